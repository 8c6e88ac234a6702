#include "server/http_server.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <exception>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>

#include "core/log.h"
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

std::string resolve_model(Engine& engine, const std::optional<std::string>& given) {
    if (given && !given->empty())
        return *given;
    return engine.default_space();
}

}  // namespace server

struct HttpServer::Impl {
    httplib::Server http;
    std::unique_ptr<server::ServerContext> ctx;
    int port = 0;
};

namespace {

void register_static_routes(httplib::Server& http, server::ServerContext& ctx) {
    http.Get(R"(/(?!api/)[^?]*)", [&ctx](const httplib::Request& req, httplib::Response& res) {
        auto asset = web::find_asset(req.path, ctx.options.web_dir);
        if (!asset) {
            server::send_json(res,
                              server::error_json("NotFound", fmt::format("no page at '{}'",
                                                                         req.path.substr(0, 200))),
                              404);
            return;
        }
        res.set_header("Cache-Control", "no-cache");
        res.set_header("X-Content-Type-Options", "nosniff");
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
    auto impl = std::make_unique<Impl>();
    impl->ctx = std::make_unique<server::ServerContext>(engine, options);
    auto& http = impl->http;
    auto& ctx = *impl->ctx;

    int workers = options.worker_threads;
    if (workers <= 0) {
        workers = std::max(8, 4 * static_cast<int>(std::thread::hardware_concurrency()));
    }
    http.new_task_queue = [workers] {
        return new httplib::ThreadPool(static_cast<std::size_t>(workers));
    };
    http.set_payload_max_length(options.max_upload_bytes);
    http.set_read_timeout(options.read_timeout_s, 0);
    http.set_write_timeout(options.write_timeout_s, 0);
    http.set_keep_alive_timeout(5);
    // Headers and body go out in separate writes; without TCP_NODELAY, Nagle plus the client's
    // delayed ACK adds ~40 ms to every keep-alive response (measured: 48 ms -> 1 ms per search).
    http.set_tcp_nodelay(true);
    http.set_keep_alive_max_count(1000);

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
    http.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req,
                                                                   httplib::Response& res) {
        if (!res.body.empty())
            return httplib::Server::HandlerResponse::Unhandled;
        std::string message;
        switch (res.status) {
            case 413:
                message = "request body is larger than the upload limit";
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

int HttpServer::port() const {
    return impl_->port;
}

Status HttpServer::run() {
    if (!impl_->http.listen_after_bind()) {
        return make_error(ErrorCode::kIoError,
                          fmt::format("the listening socket on port {} failed", impl_->port));
    }
    return ok_status();
}

void HttpServer::stop() {
    if (impl_)
        impl_->http.stop();
}

bool HttpServer::is_running() const {
    return impl_->http.is_running();
}

}  // namespace earshot
