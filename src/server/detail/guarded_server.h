// Internal to server/: an httplib::Server whose connections do not hold worker threads while
// they are idle or still sending their request headers.
//
// Why: cpp-httplib 0.11.4 runs each accepted connection on one pool thread for its whole life
// (process_server_socket: read headers, answer, then block up to the keep-alive timeout for the
// next request, up to keep_alive_max_count times). With a pool of N threads, N idle keep-alive
// connections or N clients sending headers one byte at a time (slowloris; every byte restarts the
// per-read timeout) leave nothing for anyone else: /health waits in the accept queue.
//
// Here the accept loop's task only registers the socket with one poller thread (epoll). The
// poller peeks (MSG_PEEK) until the complete request header block has arrived, and only then
// hands the connection to a worker, which answers one request with httplib's own
// process_request and gives the connection back to the poller (keep-alive). Waiting costs a file
// descriptor, not a thread. Bounds: header_timeout (whole header block, from accept or from the
// first byte of a keep-alive request), keep_alive_timeout (idle between requests), per-client
// and total connection caps (excess connections are closed at once).
//
// TLS (tls_ctx set): the handshake and the encrypted header bytes cannot be peeked, so a worker
// takes a TLS connection as soon as it is readable and reads with an absolute deadline of
// header_timeout for the handshake and headers; idle keep-alive TLS connections still wait in the
// poller without a thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include <httplib.h>

namespace earshot::server {

struct ConnectionLimits {
    int workers = 8;               // threads answering requests
    int header_timeout_s = 10;     // whole request header block
    int keep_alive_timeout_s = 5;  // idle between requests
    int read_timeout_s = 20;       // per read of a request body
    int write_timeout_s = 60;      // per write
    std::size_t keep_alive_max_count = 1000;
    int max_connections = 2048;            // open connections in total
    int max_connections_per_client = 256;  // open connections per remote address
};

class GuardedServer : public httplib::Server {
public:
    // tls_ctx: nullptr for plain HTTP; otherwise owned by the caller and outliving the server.
    GuardedServer(const ConnectionLimits& limits, SSL_CTX* tls_ctx);
    ~GuardedServer() override;

    // Stops the poller and the workers (after in-flight requests), closing waiting connections.
    // Call after httplib::Server::stop() made listen_after_bind() return.
    void shutdown();

    // Called on the worker after each request (also when reading it failed); returning true
    // closes the connection instead of keeping it alive. Set before listening.
    void set_after_request(std::function<bool()> hook) { after_request_ = std::move(hook); }

    // Figures for tests and docs.
    int open_connections() const { return open_.load(); }
    std::size_t rejected_connections() const { return rejected_.load(); }
    std::size_t timed_out_connections() const { return timed_out_.load(); }

    struct Connection;

private:
    // Called by httplib's accept loop on its task queue: registers the socket and returns.
    bool process_and_close_socket(socket_t sock) override;

    void poll_loop();
    void watch(std::shared_ptr<Connection> c, bool idle);
    void close_connection(const std::shared_ptr<Connection>& c);
    void serve(std::shared_ptr<Connection> c);  // on a worker

    ConnectionLimits limits_;
    SSL_CTX* tls_ctx_;
    int epoll_fd_ = -1;
    int wake_fd_ = -1;
    std::unique_ptr<httplib::ThreadPool> workers_;
    std::thread poller_;
    std::atomic<bool> stopping_{false};
    std::function<bool()> after_request_;

    std::mutex mu_;  // guards waiting_ and per_client_
    std::unordered_map<int, std::shared_ptr<Connection>> waiting_;  // by fd
    std::map<std::string, int> per_client_;
    std::atomic<int> open_{0};
    std::atomic<std::size_t> rejected_{0};
    std::atomic<std::size_t> timed_out_{0};
};

}  // namespace earshot::server
