#include "server/http_server.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <exception>
#include <map>
#include <memory>
#include <openssl/ssl.h>
#include <regex>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>

#include "core/log.h"
#include "server/detail/guarded_server.h"
#include "server/detail/routes.h"
#include "server/json_codec.h"
#include "server/web_assets.h"

namespace earshot {

namespace server {

void send_json(httplib::Response& res, const nlohmann::json& body, int status) {
    res.status = status;
    res.set_header("Cache-Control", "no-store");
    // dump with replacement: invalid UTF-8 in a file name must not throw.
    res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                    "application/json");
}

void send_error(httplib::Response& res, const Error& error, int status) {
    send_json(res, error_json(error), status != 0 ? status : http_status_for(error.code()));
}

bool EmbedGate::enter() {
    std::lock_guard<std::mutex> lock(mu_);
    if (in_line_ >= max_line_)
        return false;
    ++in_line_;
    return true;
}

void EmbedGate::leave() {
    std::lock_guard<std::mutex> lock(mu_);
    --in_line_;
}

bool EmbedGate::start(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_until(lock, deadline, [this] { return running_ < max_running_; }))
        return false;
    ++running_;
    return true;
}

void EmbedGate::finish() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        --running_;
    }
    cv_.notify_one();
}

EmbedTicket::~EmbedTicket() {
    if (started_)
        gate_.finish();
    gate_.leave();
}

bool EmbedTicket::start(std::chrono::steady_clock::time_point deadline) {
    started_ = gate_.start(deadline);
    return started_;
}

namespace {
// Per worker thread, for the request it is answering (GuardedServer runs one request at a time
// per thread, pre-routing check and handler on the same thread).
thread_local std::unique_ptr<EmbedTicket> t_ticket;
thread_local bool t_close_after = false;
// Multipart bodies up to this size (a search by id from the page's form) take no place in the
// uploads' line before routing; a small upload takes one in the handler.
constexpr std::uint64_t kSmallFormBytes = 16 * 1024;

bool same_secret(std::string_view a, std::string_view b) {
    // Constant time in the content; the length of the configured token is not a secret worth
    // hiding (it still takes max(len) steps).
    const std::size_t n = std::max(a.size(), b.size());
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (std::size_t i = 0; i < n; ++i) {
        unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
        unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
        diff |= static_cast<unsigned char>(x ^ y);
    }
    return diff == 0;
}

bool is_media_path(const std::string& path) {
    static const std::regex re(R"(/api/items/[^/]+/(audio|download)|/api/zip)");
    return std::regex_match(path, re);
}
}  // namespace

std::unique_ptr<EmbedTicket> take_upload_ticket() {
    return std::move(t_ticket);
}

void send_busy(httplib::Response& res, const std::string& message, int retry_after_s) {
    res.set_header("Retry-After", std::to_string(retry_after_s));
    t_close_after = true;
    send_json(res, error_json("Unavailable", message), 503);
}

void prefer_gzip(const httplib::Request& req) {
    // The Request is httplib's own non-const local, passed to handlers as const.
    auto& headers = const_cast<httplib::Request&>(req).headers;
    auto it = headers.find("Accept-Encoding");
    if (it == headers.end() || it->second.find("br") == std::string::npos)
        return;
    it->second = it->second.find("gzip") != std::string::npos ? "gzip" : "identity";
}

bool authorized(const ServerContext& ctx, const httplib::Request& req) {
    const std::string& token = ctx.options.token;
    if (token.empty() || req.path.rfind("/api/", 0) != 0)
        return true;  // /health and the page (which asks for the token) stay open
    const std::string auth = req.get_header_value("Authorization");
    constexpr std::string_view kBearer = "Bearer ";
    if (auth.size() > kBearer.size() && auth.compare(0, kBearer.size(), kBearer) == 0)
        return same_secret(std::string_view(auth).substr(kBearer.size()), token);
    if (req.has_param("access_token") && is_media_path(req.path))
        return same_secret(req.get_param_value("access_token"), token);
    return false;
}

void send_unauthorized(httplib::Response& res) {
    res.set_header("WWW-Authenticate", "Bearer realm=\"earshot\"");
    send_json(res,
              error_json("Unauthorized",
                         "this server needs a token: send 'Authorization: Bearer <token>' (the "
                         "page asks for it once); audio links take ?access_token=<token>"),
              401);
}

std::string resolve_model(Engine& engine, const std::optional<std::string>& given) {
    if (given && !given->empty())
        return *given;
    return engine.default_space();
}

}  // namespace server

struct HttpServer::Impl {
    std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> tls{nullptr, SSL_CTX_free};
    std::unique_ptr<server::GuardedServer> guarded;
    std::unique_ptr<server::ServerContext> ctx;
    std::unique_ptr<server::MapWarmer> map_warmer;  // while run() serves
    int port = 0;
};

namespace {

// A file of the page as served: its entity tag and, for the files compiled in, the gzip made once
// (httplib would compress app.js again on every request).
struct StaticFile {
    std::string etag;
    std::string gzip;  // empty: send as it is (httplib compresses text when asked)
};

// The compiled-in files, tagged and gzipped at start (index.html is tagged per answer: the boot
// data in it changes with the catalog).
std::map<std::string, StaticFile> prepare_embedded_files() {
    std::map<std::string, StaticFile> files;
    for (std::size_t i = 0; i < web::kEmbeddedFileCount; ++i) {
        const auto& f = web::kEmbeddedFiles[i];
        const std::string body(reinterpret_cast<const char*>(f.data), f.size);
        StaticFile s;
        s.etag = web::etag_for(body);
        if (body.size() > 1024 && std::string_view(f.name) != "index.html")
            s.gzip = server::gzip_text(body);
        files.emplace(f.name, std::move(s));
    }
    return files;
}

void register_static_routes(httplib::Server& http, server::ServerContext& ctx) {
    auto embedded = std::make_shared<const std::map<std::string, StaticFile>>(
        ctx.options.web_dir.empty() ? prepare_embedded_files()
                                    : std::map<std::string, StaticFile>{});
    http.Get(R"(/(?!api/)[^?]*)", [&ctx, embedded](const httplib::Request& req,
                                                   httplib::Response& res) {
        auto asset = web::find_asset(req.path, ctx.options.web_dir);
        if (!asset) {
            server::send_json(res,
                              server::error_json("NotFound", fmt::format("no page at '{}'",
                                                                         req.path.substr(0, 200))),
                              404);
            return;
        }
        const bool page = req.path == "/" || req.path == "/index.html";
        const StaticFile* cached = nullptr;
        if (page) {
            // The boot data (stats, models) comes with the page, so the page's first request need
            // not wait for two more. Not with a token: those answers need it.
            if (ctx.options.token.empty()) {
                auto boot = server::boot_answer(ctx);
                if (boot) {
                    asset->body = web::with_boot_json(
                        asset->body,
                        boot->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
                }
            }
        } else if (auto it = embedded->find(req.path.substr(1)); it != embedded->end()) {
            cached = &it->second;
        }
        const std::string etag = cached ? cached->etag : web::etag_for(asset->body);
        // Revalidated on every use (no-cache), answered 304 without a body when unchanged.
        res.set_header("Cache-Control", "no-cache");
        res.set_header("ETag", etag);
        res.set_header("Vary", "Accept-Encoding");
        res.set_header("X-Content-Type-Options", "nosniff");
        if (web::etag_matches(req.get_header_value("If-None-Match"), etag)) {
            res.status = 304;
            return;
        }
        if (cached && !cached->gzip.empty() &&
            req.get_header_value("Accept-Encoding").find("gzip") != std::string::npos) {
            // The request is httplib's own non-const local (see prefer_gzip): without an
            // Accept-Encoding it does not compress the gzip again.
            const_cast<httplib::Request&>(req).headers.erase("Accept-Encoding");
            res.set_header("Content-Encoding", "gzip");
            res.set_content(cached->gzip, asset->content_type.c_str());
            return;
        }
        res.set_content(std::move(asset->body), asset->content_type.c_str());
    });
}

}  // namespace

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() {
    stop();
}

Result<std::unique_ptr<HttpServer>> HttpServer::create(Engine& engine,
                                                       const ServerOptions& options) {
    if (options.port < 0 || options.port > 65535) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("port must be 0..65535, got {}", options.port));
    }
    if (!options.web_dir.empty() && !std::filesystem::is_directory(options.web_dir)) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("--web-dir '{}' is not a folder", options.web_dir.string()));
    }
    if (!(options.max_query_seconds > 0.0) || !(options.request_budget_s > 0.0) ||
        options.embed_queue < 0 || options.header_timeout_s <= 0 ||
        options.keep_alive_timeout_s <= 0 || options.max_connections <= 0 ||
        options.max_connections_per_client <= 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          "server limits must be positive (query seconds, budget, timeouts, "
                          "connection caps; embed queue >= 0)");
    }
    if (options.tls_cert.empty() != options.tls_key.empty()) {
        return make_error(ErrorCode::kInvalidArgument,
                          "--tls-cert and --tls-key go together (PEM certificate and key)");
    }
    auto impl = std::make_unique<Impl>();
    if (!options.tls_cert.empty()) {
        impl->tls.reset(SSL_CTX_new(TLS_server_method()));
        SSL_CTX* tls = impl->tls.get();
        if (!tls) {
            return make_error(ErrorCode::kInternal, "cannot create a TLS context");
        }
        SSL_CTX_set_min_proto_version(tls, TLS1_2_VERSION);
        SSL_CTX_set_mode(tls, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        if (SSL_CTX_use_certificate_chain_file(tls, options.tls_cert.c_str()) != 1) {
            return make_error(ErrorCode::kInvalidArgument,
                              fmt::format("--tls-cert '{}': not a readable PEM certificate",
                                          options.tls_cert.string()));
        }
        if (SSL_CTX_use_PrivateKey_file(tls, options.tls_key.c_str(), SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(tls) != 1) {
            return make_error(ErrorCode::kInvalidArgument,
                              fmt::format("--tls-key '{}': not a readable PEM private key "
                                          "matching the certificate",
                                          options.tls_key.string()));
        }
    }
    impl->ctx = std::make_unique<server::ServerContext>(engine, options);
    auto& ctx = *impl->ctx;
    const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    int running = options.max_concurrent_embeddings > 0 ? options.max_concurrent_embeddings
                                                        : std::max(1, cores / 2);
    ctx.gate = std::make_unique<server::EmbedGate>(running, options.embed_queue);

    int workers = options.worker_threads;
    if (workers <= 0) {
        workers = std::max(8, 4 * cores);
    }
    // Uploads in line never take every worker: id searches, /health and pages keep one at least.
    workers = std::max(workers, running + options.embed_queue + 4);
    server::ConnectionLimits limits;
    limits.workers = workers;
    limits.header_timeout_s = options.header_timeout_s;
    limits.keep_alive_timeout_s = options.keep_alive_timeout_s;
    limits.read_timeout_s = options.read_timeout_s;
    limits.write_timeout_s = options.write_timeout_s;
    limits.keep_alive_max_count = 1000;
    limits.max_connections = options.max_connections;
    limits.max_connections_per_client = options.max_connections_per_client;
    impl->guarded = std::make_unique<server::GuardedServer>(limits, impl->tls.get());
    auto& http = *impl->guarded;
    http.set_payload_max_length(options.max_upload_bytes);
    http.set_read_timeout(options.read_timeout_s, 0);
    http.set_write_timeout(options.write_timeout_s, 0);
    // Headers and body go out in separate writes; without TCP_NODELAY, Nagle plus the client's
    // delayed ACK adds ~40 ms to every keep-alive response (measured: 48 ms -> 1 ms per search).
    http.set_tcp_nodelay(true);
    http.set_after_request([] {
        server::t_ticket.reset();  // an upload whose body never arrived
        return std::exchange(server::t_close_after, false);
    });
    // Before the body is read: authentication, and a place in line for uploads.
    http.set_pre_routing_handler([&ctx](const httplib::Request& req, httplib::Response& res) {
        server::prefer_gzip(req);
        if (!server::authorized(ctx, req)) {
            if (req.method != "GET" && req.method != "HEAD")
                server::t_close_after = true;  // the body stays unread
            server::send_unauthorized(res);
            return httplib::Server::HandlerResponse::Handled;
        }
        if (req.method == "POST" && req.path == "/api/search" &&
            req.get_header_value("Content-Type").rfind("multipart/", 0) == 0 &&
            req.get_header_value<std::uint64_t>("Content-Length") > server::kSmallFormBytes) {
            if (!ctx.gate->enter()) {
                server::send_busy(res,
                                  "too many audio searches in progress; retry shortly (searches "
                                  "by id are not limited)",
                                  5);
                return httplib::Server::HandlerResponse::Handled;
            }
            server::t_ticket = std::make_unique<server::EmbedTicket>(*ctx.gate);
        }
        return httplib::Server::HandlerResponse::Unhandled;
    });

    http.set_exception_handler(
        [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
            std::string what = "unknown exception";
            try {
                if (ep)
                    std::rethrow_exception(ep);
            } catch (const std::exception& e) {
                what = e.what();
            } catch (...) {
            }
            log_message(LogLevel::kError,
                        fmt::format("{} {}: unhandled exception: {}", req.method, req.path, what));
            server::send_json(res, server::error_json("Internal", what), 500);
        });
    // Statuses set by httplib itself (404 no route, 413, 400 bad request line, ...) get a JSON
    // body too; handlers' own error bodies are kept.
    http.set_error_handler(httplib::Server::HandlerWithResponse([&ctx](const httplib::Request& req,
                                                                       httplib::Response& res) {
        if (!res.body.empty())
            return httplib::Server::HandlerResponse::Unhandled;
        if (res.status == 416 && req.has_header("Range")) {
            // httplib rejects a Range it cannot parse (an end beyond 2^63) before routing,
            // so before the authentication check too.
            if (!server::authorized(ctx, req)) {
                res.status = 401;
                server::send_unauthorized(res);
                return httplib::Server::HandlerResponse::Handled;
            }
            if (server::serve_clamped_range(ctx, req, res))
                return httplib::Server::HandlerResponse::Handled;
        }
        std::string message;
        switch (res.status) {
            case 413:
                message = fmt::format(
                    "the upload is larger than this server's limit of {:g} MB (start earshot "
                    "serve with a larger --max-upload-mb to raise it)",
                    static_cast<double>(ctx.options.max_upload_bytes) / (1024.0 * 1024.0));
                break;
            case 404:
                message = fmt::format("no route for {} {}", req.method, req.path.substr(0, 200));
                break;
            default:
                message = fmt::format("HTTP status {}", res.status);
                break;
        }
        server::send_json(
            res, server::error_json(server::code_name_for_status(res.status), message), res.status);
        return httplib::Server::HandlerResponse::Handled;
    }));

    server::register_search_routes(http, ctx);
    server::register_zip_routes(http, ctx);
    server::register_library_routes(http, ctx);
    register_static_routes(http, ctx);

    int port = options.port == 0
                   ? http.bind_to_any_port(options.host.c_str())
                   : (http.bind_to_port(options.host.c_str(), options.port) ? options.port : -1);
    if (port < 0) {
        return make_error(ErrorCode::kUnavailable,
                          fmt::format("cannot listen on {}:{} (in use, or not an address of this "
                                      "machine); try another --port",
                                      options.host, options.port));
    }
    impl->port = port;
    return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

bool HttpServer::is_tls() const {
    return impl_->tls != nullptr;
}

int HttpServer::port() const {
    return impl_->port;
}

Status HttpServer::run() {
    if (impl_->ctx->options.warm_map && !impl_->map_warmer)
        impl_->map_warmer = std::make_unique<server::MapWarmer>(*impl_->ctx);
    const bool listened = impl_->guarded->listen_after_bind();
    impl_->map_warmer.reset();  // stops and joins it
    if (!listened) {
        return make_error(ErrorCode::kIoError,
                          fmt::format("the listening socket on port {} failed", impl_->port));
    }
    return ok_status();
}

void HttpServer::stop() {
    if (impl_ && impl_->guarded) {
        impl_->guarded->stop();
        impl_->guarded->shutdown();
    }
}

bool HttpServer::is_running() const {
    return impl_->guarded->is_running();
}

}  // namespace earshot
