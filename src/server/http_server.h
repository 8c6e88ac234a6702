// The HTTP server behind `earshot serve`: a JSON API over the engine (search by upload or by
// item, browse items, stream/download audio, the 2-D library map, models, stats, health) and the
// web page in web/ (docs/http-api.md). Binds to loopback by default; serves only audio files that
// are in the catalog; uploads are size-limited; every error is JSON with a fitting status.
// Thread-safety: requests run on a pool of worker threads sharing one Engine, which is safe for
// concurrent searches while another thread indexes (engine/engine.h). stop() may be called from
// any thread.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>

#include "core/status.h"
#include "engine/engine.h"

namespace earshot {

struct ServerOptions {
    std::string host = "127.0.0.1";    // loopback unless asked otherwise
    int port = 8080;                   // 0 = any free port (see HttpServer::port())
    std::filesystem::path web_dir;     // empty = the page compiled into the binary
    std::filesystem::path models_dir;  // for GET /api/models (empty = default search path)
    // Library root (absolute, normalised): items indexed with `--root` have library-relative
    // keys, resolved under this directory for audio/download/waveform. Empty = such items have no
    // file on this machine (404). Absolute keys are served as they are either way.
    std::filesystem::path library_root;
    std::size_t max_upload_bytes = 32 << 20;  // larger request bodies get 413
    int read_timeout_s = 20;                  // per socket read (slow clients are dropped)
    int write_timeout_s = 60;                 // per socket write
    int worker_threads = 0;                   // 0 = max(8, 4 × cores)

    // Cost bounds for uploads (POST /api/search with a file; docs/reliability.md).
    double max_query_seconds = 600.0;   // decoded audio per query; longer uploads get 413 at once
    double request_budget_s = 60.0;     // queue wait + decoding of one upload; then 503
    int max_concurrent_embeddings = 0;  // uploads decoded/embedded at once (0 = max(1, cores/2))
    int embed_queue = 8;                // uploads waiting beyond those; more get 503 + Retry-After

    // Connections (server/detail/guarded_server.h): idle and half-sent requests hold no thread.
    int header_timeout_s = 10;             // the whole request header block
    int keep_alive_timeout_s = 5;          // idle between requests
    int max_connections = 2048;            // open connections in total
    int max_connections_per_client = 256;  // open connections per remote address

    // Authentication: non-empty = every /api/ request needs "Authorization: Bearer <token>"
    // (audio/download also take ?access_token=<token>, for <audio> and links); /health and the
    // page stay open. Compared in constant time.
    std::string token;
    // TLS: both set = HTTPS only (PEM certificate chain and private key).
    std::filesystem::path tls_cert;
    std::filesystem::path tls_key;

    // While run() serves: compute the default model's library map at start and again after
    // catalog writes (once they pause), so the page's first map does not wait for it.
    bool warm_map = true;
};

class HttpServer {
public:
    // Registers the routes and binds the socket (so port() is known before run()).
    // kUnavailable if the address cannot be bound (in use, or not a local address);
    // kInvalidArgument for a bad port or an unreadable web_dir.
    static Result<std::unique_ptr<HttpServer>> create(Engine& engine, const ServerOptions& options);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    int port() const;  // the bound port
    // Serves until stop(). kIoError if the listening socket fails.
    Status run();
    // Stops accepting and makes run() return; in-flight requests finish first.
    void stop();
    bool is_running() const;
    bool is_tls() const;

private:
    struct Impl;
    explicit HttpServer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace earshot
