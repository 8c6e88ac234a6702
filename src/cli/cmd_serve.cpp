#include "cli/cmd_serve.h"

#include <csignal>
#include <cstdio>
#include <memory>
#include <pthread.h>
#include <thread>

#include <fmt/format.h>

#include "cli/common.h"
#include "cli/exit_codes.h"
#include "server/http_server.h"

namespace earshot::cli {
namespace {

struct ServeCliOptions {
    CommonOptions common;
    std::string host = "127.0.0.1";
    int port = 8080;
    std::string web_dir;
    double max_upload_mb = 32.0;
    int workers = 0;
    int read_timeout_s = 20;
};

bool is_loopback(const std::string& host) {
    return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

int run_serve(const ServeCliOptions& o) {
    if (o.max_upload_mb <= 0.0 || o.max_upload_mb > 4096.0) {
        return report_error(
            "serve", Error(ErrorCode::kInvalidArgument, "--max-upload-mb must be in (0, 4096]"));
    }
    auto engine = open_engine(o.common, /*create=*/false);
    if (!engine)
        return report_error("serve", engine.error());
    ServerOptions so;
    so.host = o.host;
    so.port = o.port;
    so.web_dir = o.web_dir;
    so.models_dir = o.common.models_dir;
    so.max_upload_bytes = static_cast<std::size_t>(o.max_upload_mb * 1024.0 * 1024.0);
    so.worker_threads = o.workers;
    so.read_timeout_s = o.read_timeout_s;

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
    if (!is_loopback(o.host)) {
        fmt::print(stderr,
                   "earshot serve: warning: listening on {}, reachable from other machines; the "
                   "API has no authentication\n",
                   o.host);
    }
    auto items = (*engine)->catalog().count_items();
    std::string shown_host = o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host;
    fmt::print("earshot serve: http://{}:{}/ ({} items, catalog {})\n", shown_host,
               (*server)->port(), items ? *items : 0, o.common.db);
    std::fflush(stdout);

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
    cmd->add_option("--max-upload-mb", opts->max_upload_mb,
                    "Largest request body accepted (uploads); larger ones get 413")
        ->capture_default_str();
    cmd->add_option("--workers", opts->workers, "HTTP worker threads (0 = max(8, 4 x cores))")
        ->capture_default_str();
    cmd->add_option("--read-timeout", opts->read_timeout_s,
                    "Seconds a client may stall while sending a request")
        ->capture_default_str()
        ->check(CLI::Range(1, 3600));
    cmd->footer(
        "Example:\n  earshot serve --db lib.earshot --port 8080\n  then open "
        "http://127.0.0.1:8080/");
    cmd->callback([opts] { throw CLI::RuntimeError(run_serve(*opts)); });
}

}  // namespace earshot::cli
