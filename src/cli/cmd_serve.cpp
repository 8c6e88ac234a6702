#include "cli/cmd_serve.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <pthread.h>
#include <thread>

#include <fmt/format.h>

#include "catalog/catalog.h"
#include "catalog/change_listener.h"
#include "cli/common.h"
#include "cli/exit_codes.h"
#include "core/log.h"
#include "server/http_server.h"

namespace earshot::cli {
namespace {

struct ServeCliOptions {
    CommonOptions common;
    std::string host = "127.0.0.1";
    int port = 8080;
    std::string web_dir;
    std::string root;
    double max_upload_mb = 32.0;
    int workers = 0;
    int read_timeout_s = 20;
    double max_query_seconds = 600.0;
    double request_budget_s = 60.0;
    int max_embeddings = 0;
    int embed_queue = 8;
    int header_timeout_s = 10;
    int max_conns_per_client = 256;
    std::string token_file;
    bool insecure_no_auth = false;
    std::string tls_cert;
    std::string tls_key;
};

// The token from --token-file (first line, surrounding whitespace dropped) or EARSHOT_TOKEN.
Result<std::string> load_token(const ServeCliOptions& o) {
    std::string token;
    if (!o.token_file.empty()) {
        std::ifstream in(o.token_file);
        if (!in) {
            return make_error(ErrorCode::kNotFound,
                              fmt::format("--token-file '{}': cannot read it", o.token_file));
        }
        std::getline(in, token);
    } else if (const char* env = std::getenv("EARSHOT_TOKEN")) {
        token = env;
    } else {
        return std::string();
    }
    const auto first = token.find_first_not_of(" \t\r\n");
    const auto last = token.find_last_not_of(" \t\r\n");
    token = first == std::string::npos ? std::string() : token.substr(first, last - first + 1);
    const char* from = o.token_file.empty() ? "EARSHOT_TOKEN" : "--token-file";
    if (token.size() < 16) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("the token from {} is {} characters; use at least 16 (e.g. "
                                      "`openssl rand -hex 32`)",
                                      from, token.size()));
    }
    for (unsigned char ch : token) {
        if (ch < 0x21 || ch > 0x7e) {
            return make_error(ErrorCode::kInvalidArgument,
                              fmt::format("the token from {} must be printable ASCII without "
                                          "spaces",
                                          from));
        }
    }
    return token;
}

bool is_loopback(const std::string& host) {
    return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

int run_serve(const ServeCliOptions& o) {
    if (o.max_upload_mb <= 0.0 || o.max_upload_mb > 4096.0) {
        return report_error(
            "serve", Error(ErrorCode::kInvalidArgument, "--max-upload-mb must be in (0, 4096]"));
    }
    auto token = load_token(o);
    if (!token)
        return report_error("serve", token.error());
    if (!is_loopback(o.host) && token->empty() && !o.insecure_no_auth) {
        return report_error(
            "serve", Error(ErrorCode::kInvalidArgument,
                           fmt::format("refusing to listen on {} without a token: anyone on the "
                                       "network could read the library. Give --token-file F (or "
                                       "EARSHOT_TOKEN), or --insecure-no-auth if you mean it",
                                       o.host)));
    }
    auto engine = open_engine(o.common, /*create=*/false);
    if (!engine)
        return report_error("serve", engine.error());
    ServerOptions so;
    so.host = o.host;
    so.port = o.port;
    so.web_dir = o.web_dir;
    so.models_dir = o.common.models_dir;
    if (!o.root.empty()) {
        std::error_code ec;
        so.library_root = std::filesystem::canonical(o.root, ec);
        if (ec || !std::filesystem::is_directory(so.library_root)) {
            return report_error(
                "serve",
                Error(ErrorCode::kNotFound, fmt::format("--root '{}': not a directory", o.root)));
        }
    }
    so.max_upload_bytes = static_cast<std::size_t>(o.max_upload_mb * 1024.0 * 1024.0);
    so.worker_threads = o.workers;
    so.read_timeout_s = o.read_timeout_s;
    so.max_query_seconds = o.max_query_seconds;
    so.request_budget_s = o.request_budget_s;
    so.max_concurrent_embeddings = o.max_embeddings;
    so.embed_queue = o.embed_queue;
    so.header_timeout_s = o.header_timeout_s;
    so.max_connections_per_client = o.max_conns_per_client;
    so.token = *token;
    so.tls_cert = o.tls_cert;
    so.tls_key = o.tls_key;

    // SIGINT/SIGTERM are blocked in every thread and taken synchronously by this one, so the
    // server stops cleanly (in-flight requests finish) on Ctrl-C or `kill`.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    auto server = HttpServer::create(**engine, so);
    if (!server)
        return report_error("serve", server.error());
    if (!is_loopback(o.host) && token->empty()) {
        fmt::print(stderr,
                   "earshot serve: warning: listening on {}, reachable from other machines, "
                   "without a token (--insecure-no-auth)\n",
                   o.host);
    }
    if (!is_loopback(o.host) && !(*server)->is_tls()) {
        fmt::print(stderr,
                   "earshot serve: warning: plain HTTP on {}: the token and the audio cross the "
                   "network unencrypted (see --tls-cert)\n",
                   o.host);
    }
    auto items = (*engine)->catalog().count_items();
    std::string shown_host = o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host;
    fmt::print("earshot serve: {}://{}:{}/ ({} items, catalog {}{})\n",
               (*server)->is_tls() ? "https" : "http", shown_host, (*server)->port(),
               items ? *items : 0, o.common.db, token->empty() ? "" : ", token required");
    std::fflush(stdout);

    // A replica on a PostgreSQL catalog refreshes its indexes when another process writes
    // (NOTIFY at commit) rather than on the next search (docs/scaling.md, "Replicated serving").
    std::atomic<bool> stopping{false};
    std::thread follower;
    if (is_postgres_uri(o.common.db)) {
        auto listener = listen_catalog_changes(o.common.db);
        if (!listener) {
            fmt::print(stderr,
                       "earshot serve: warning: not following catalog changes ({}); searches "
                       "still see every write\n",
                       listener.error().to_string());
        } else {
            follower = std::thread([&, l = std::move(*listener)] {
                constexpr auto kMinRefreshInterval = std::chrono::milliseconds(1000);
                auto last_refresh = std::chrono::steady_clock::now() - kMinRefreshInterval;
                bool warned = false;
                while (!stopping.load()) {
                    auto changed = l->wait(std::chrono::milliseconds(500));
                    if (!changed) {
                        if (!warned) {
                            log_warning("serve: following catalog changes: {}",
                                        changed.error().to_string());
                        }
                        warned = true;
                        std::this_thread::sleep_for(std::chrono::seconds(1));
                        continue;
                    }
                    warned = false;
                    if (*changed) {
                        // At most one refresh per second (an update re-reads the space's ids and
                        // rewrites the index file): a running ingest's commits are folded.
                        const auto since = std::chrono::steady_clock::now() - last_refresh;
                        if (since < kMinRefreshInterval)
                            std::this_thread::sleep_for(kMinRefreshInterval - since);
                        (void)l->wait(std::chrono::milliseconds(0));
                        last_refresh = std::chrono::steady_clock::now();
                        auto n = (*engine)->refresh_cached_indexes();
                        if (!n)
                            log_warning("serve: refreshing indexes: {}", n.error().to_string());
                    }
                }
            });
        }
    }

    Status run_status = ok_status();
    std::thread runner([&] { run_status = (*server)->run(); });
    std::thread waiter([&] {
        int sig = 0;
        sigwait(&signals, &sig);
        (*server)->stop();
    });
    runner.join();
    // run() returned: if no signal came (socket failure), wake the waiter ourselves.
    pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
    stopping = true;
    if (follower.joinable())
        follower.join();
    if (!run_status)
        return report_error("serve", run_status.error());
    return 0;
}

}  // namespace

void setup_serve(CLI::App& app) {
    auto opts = std::make_shared<ServeCliOptions>();
    auto* cmd = app.add_subcommand(
        "serve", "Serve the web page and the JSON API (docs/http-api.md) for a catalog");
    add_common_options(*cmd, opts->common);
    cmd->add_option("--host", opts->host,
                    "Address to listen on (loopback by default; anything else exposes the "
                    "library to the network)")
        ->capture_default_str();
    cmd->add_option("--port", opts->port, "TCP port (0 = any free port, printed at start)")
        ->capture_default_str()
        ->check(CLI::Range(0, 65535));
    cmd->add_option("--web-dir", opts->web_dir,
                    "Serve the page from this folder instead of the copy built into the binary "
                    "(for developing web/)");
    cmd->add_option("--root", opts->root,
                    "Library root on this machine: items indexed with --root (library-relative "
                    "keys) are played and downloaded from under it");
    cmd->add_option("--max-upload-mb", opts->max_upload_mb,
                    "Largest request body accepted (uploads); larger ones get 413")
        ->capture_default_str();
    cmd->add_option("--workers", opts->workers, "HTTP worker threads (0 = max(8, 4 x cores))")
        ->capture_default_str();
    cmd->add_option("--read-timeout", opts->read_timeout_s,
                    "Seconds a client may stall while sending a request")
        ->capture_default_str()
        ->check(CLI::Range(1, 3600));
    cmd->add_option("--max-query-seconds", opts->max_query_seconds,
                    "Longest decoded audio a search upload may have; longer uploads get 413 "
                    "(decoding stops at the limit)")
        ->capture_default_str()
        ->check(CLI::Range(1.0, 86400.0));
    cmd->add_option("--request-budget", opts->request_budget_s,
                    "Seconds an upload search may wait in line and decode; then 503")
        ->capture_default_str()
        ->check(CLI::Range(1.0, 3600.0));
    cmd->add_option("--max-embeddings", opts->max_embeddings,
                    "Upload searches decoded/embedded at once (0 = max(1, cores/2))")
        ->capture_default_str()
        ->check(CLI::Range(0, 1024));
    cmd->add_option("--embed-queue", opts->embed_queue,
                    "Upload searches waiting beyond those; more get 503 + Retry-After")
        ->capture_default_str()
        ->check(CLI::Range(0, 4096));
    cmd->add_option("--header-timeout", opts->header_timeout_s,
                    "Seconds a client has to send a request's whole header block")
        ->capture_default_str()
        ->check(CLI::Range(1, 3600));
    cmd->add_option("--max-conns-per-client", opts->max_conns_per_client,
                    "Open connections allowed per client address; more are refused (503)")
        ->capture_default_str()
        ->check(CLI::Range(1, 100000));
    cmd->add_option("--token-file", opts->token_file,
                    "File whose first line is the access token; every /api/ request then needs "
                    "'Authorization: Bearer <token>' (default: $EARSHOT_TOKEN if set)");
    cmd->add_flag("--insecure-no-auth", opts->insecure_no_auth,
                  "Allow listening on a non-loopback address without a token");
    cmd->add_option("--tls-cert", opts->tls_cert, "PEM certificate (chain): serve HTTPS");
    cmd->add_option("--tls-key", opts->tls_key, "PEM private key for --tls-cert");
    cmd->footer(
        "Example:\n  earshot serve --db lib.earshot --port 8080\n  then open "
        "http://127.0.0.1:8080/");
    cmd->callback([opts] { throw CLI::RuntimeError(run_serve(*opts)); });
}

}  // namespace earshot::cli
