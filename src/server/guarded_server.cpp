// Event-driven connection handling around httplib's request processing (why: the header).
#include "server/detail/guarded_server.h"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include <climits>

namespace earshot::server {

using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kPeekBytes = 16 * 1024;  // a header block larger than this goes to a worker
constexpr std::size_t kReadBuffer = 16 * 1024;

int ms_until(Clock::time_point t) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - Clock::now()).count();
    return ms <= 0 ? 0 : static_cast<int>(std::min<long long>(ms, INT_MAX));
}

int wait_fd(int fd, short events, int timeout_ms) {
    if (timeout_ms <= 0)
        return 0;
    pollfd p{fd, events, 0};
    for (;;) {
        int r = ::poll(&p, 1, timeout_ms);
        if (r < 0 && errno == EINTR)
            continue;
        return r;
    }
}

void peer_of(int fd, std::string& ip, int& port, bool local) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    int r = local ? ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len)
                  : ::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ip.clear();
    port = -1;
    if (r != 0)
        return;
    char buf[INET6_ADDRSTRLEN] = {};
    if (addr.ss_family == AF_INET) {
        auto* a = reinterpret_cast<sockaddr_in*>(&addr);
        ::inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
        port = ntohs(a->sin_port);
    } else if (addr.ss_family == AF_INET6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
        ::inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
        port = ntohs(a->sin6_port);
    }
    ip = buf;
}

}  // namespace

struct GuardedServer::Connection {
    int fd = -1;
    std::string ip;
    int port = -1;
    SSL* ssl = nullptr;
    bool handshake_done = false;
    bool idle = false;       // between keep-alive requests
    bool saw_bytes = false;  // the current wait has seen the first bytes of a request
    bool draining = false;   // answered and half-closed: discarding input until EOF (linger)
    Clock::time_point header_deadline;
    Clock::time_point deadline;  // of the current wait
    std::size_t requests = 0;
    std::vector<char> rbuf;  // bytes read but not yet consumed (pipelining)
    std::size_t rpos = 0;

    bool has_buffered() const { return rpos < rbuf.size(); }
    ~Connection() {
        if (ssl)
            SSL_free(ssl);
        if (fd >= 0)
            ::close(fd);
    }
};

namespace {

// One request's view of a connection: buffered reads, the header block bounded by an absolute
// deadline, body reads and writes bounded per call.
class ConnStream final : public httplib::Stream {
public:
    ConnStream(GuardedServer::Connection& c, const ConnectionLimits& limits)
        : c_(c), limits_(limits) {}

    bool is_readable() const override {
        if (c_.has_buffered() || (c_.ssl && SSL_pending(c_.ssl) > 0))
            return true;
        return wait_fd(c_.fd, POLLIN, read_wait_ms()) > 0;
    }
    bool is_writable() const override {
        return wait_fd(c_.fd, POLLOUT, limits_.write_timeout_s * 1000) > 0;
    }

    ssize_t read(char* ptr, size_t size) override {
        if (!c_.has_buffered()) {
            c_.rbuf.resize(kReadBuffer);
            c_.rpos = 0;
            ssize_t n = raw_read(c_.rbuf.data(), c_.rbuf.size());
            if (n <= 0) {
                c_.rbuf.clear();
                return n;
            }
            c_.rbuf.resize(static_cast<std::size_t>(n));
        }
        std::size_t n = std::min(size, c_.rbuf.size() - c_.rpos);
        std::memcpy(ptr, c_.rbuf.data() + c_.rpos, n);
        c_.rpos += n;
        if (c_.rpos == c_.rbuf.size()) {
            c_.rbuf.clear();
            c_.rpos = 0;
        }
        track_headers(ptr, n);
        return static_cast<ssize_t>(n);
    }

    ssize_t write(const char* ptr, size_t size) override {
        for (;;) {
            if (c_.ssl) {
                ERR_clear_error();
                int r = SSL_write(c_.ssl, ptr, static_cast<int>(std::min<size_t>(size, INT_MAX)));
                if (r > 0)
                    return r;
                int e = SSL_get_error(c_.ssl, r);
                if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
                    short ev = e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
                    if (wait_fd(c_.fd, ev, limits_.write_timeout_s * 1000) <= 0)
                        return -1;
                    continue;
                }
                return -1;
            }
            ssize_t r = ::send(c_.fd, ptr, size, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (r >= 0)
                return r;
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (wait_fd(c_.fd, POLLOUT, limits_.write_timeout_s * 1000) <= 0)
                    return -1;
                continue;
            }
            return -1;
        }
    }

    void get_remote_ip_and_port(std::string& ip, int& port) const override {
        ip = c_.ip;
        port = c_.port;
    }
    void get_local_ip_and_port(std::string& ip, int& port) const override {
        peer_of(c_.fd, ip, port, /*local=*/true);
    }
    socket_t socket() const override { return c_.fd; }

private:
    // Until the blank line ending the headers: the header deadline; then per read.
    int read_wait_ms() const {
        int ms = limits_.read_timeout_s * 1000;
        if (!headers_done_)
            ms = std::min(ms, ms_until(c_.header_deadline));
        return ms;
    }

    void track_headers(const char* p, std::size_t n) {
        for (std::size_t i = 0; i < n && !headers_done_; ++i) {
            tail_ = (tail_ << 8) | static_cast<unsigned char>(p[i]);
            if ((tail_ & 0xffffffffu) == 0x0d0a0d0au)
                headers_done_ = true;
        }
    }

    ssize_t raw_read(char* p, std::size_t n) {
        for (;;) {
            if (c_.ssl) {
                ERR_clear_error();
                int r = SSL_read(c_.ssl, p, static_cast<int>(std::min<std::size_t>(n, INT_MAX)));
                if (r > 0)
                    return r;
                int e = SSL_get_error(c_.ssl, r);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                    if (wait_fd(c_.fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                                read_wait_ms()) <= 0)
                        return -1;
                    continue;
                }
                return e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
            }
            ssize_t r = ::recv(c_.fd, p, n, MSG_DONTWAIT);
            if (r >= 0)
                return r;
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (wait_fd(c_.fd, POLLIN, read_wait_ms()) <= 0)
                    return -1;
                continue;
            }
            return -1;
        }
    }

    GuardedServer::Connection& c_;
    const ConnectionLimits& limits_;
    bool headers_done_ = false;
    std::uint32_t tail_ = 0;
};

bool tls_handshake(GuardedServer::Connection& c) {
    for (;;) {
        ERR_clear_error();
        int r = SSL_accept(c.ssl);
        if (r == 1)
            return true;
        int e = SSL_get_error(c.ssl, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            return false;
        if (wait_fd(c.fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                    ms_until(c.header_deadline)) <= 0)
            return false;
    }
}

}  // namespace

GuardedServer::GuardedServer(const ConnectionLimits& limits, SSL_CTX* tls_ctx)
    : limits_(limits), tls_ctx_(tls_ctx) {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = wake_fd_;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
    workers_ = std::make_unique<httplib::ThreadPool>(
        static_cast<std::size_t>(std::max(1, limits_.workers)));
    // The accept loop's tasks only register sockets.
    new_task_queue = [] { return new httplib::ThreadPool(1); };
    poller_ = std::thread([this] { poll_loop(); });
}

GuardedServer::~GuardedServer() {
    shutdown();
    if (epoll_fd_ >= 0)
        ::close(epoll_fd_);
    if (wake_fd_ >= 0)
        ::close(wake_fd_);
}

void GuardedServer::shutdown() {
    if (stopping_.exchange(true))
        return;
    std::uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
    if (poller_.joinable())
        poller_.join();
    workers_->shutdown();  // in-flight requests finish
    std::unordered_map<int, std::shared_ptr<Connection>> left;
    {
        std::lock_guard<std::mutex> lock(mu_);
        left.swap(waiting_);
    }
    for (auto& [fd, c] : left) close_connection(c);
}

bool GuardedServer::process_and_close_socket(socket_t sock) {
    auto c = std::make_shared<Connection>();
    c->fd = sock;
    peer_of(sock, c->ip, c->port, /*local=*/false);
    bool admit = false;
    {
        std::lock_guard<std::mutex> lock(mu_);
        int& mine = per_client_[c->ip];
        if (!stopping_ && open_.load() < limits_.max_connections &&
            mine < limits_.max_connections_per_client) {
            ++mine;
            ++open_;
            admit = true;
        } else if (mine == 0) {
            per_client_.erase(c->ip);
        }
    }
    if (!admit) {
        ++rejected_;
        if (!tls_ctx_) {
            static const char kBusy[] =
                "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nConnection: close\r\n"
                "Content-Type: application/json\r\nContent-Length: 89\r\n\r\n"
                "{\"error\":{\"code\":\"Unavailable\",\"message\":\"too many connections from "
                "this client\"}}\n";
            (void)!::send(sock, kBusy, sizeof kBusy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        return true;  // c's destructor closes the socket
    }
    int flags = ::fcntl(sock, F_GETFL, 0);
    ::fcntl(sock, F_SETFL, flags | O_NONBLOCK);
    int yes = 1;
    ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
    if (tls_ctx_) {
        c->ssl = SSL_new(tls_ctx_);
        if (!c->ssl || SSL_set_fd(c->ssl, sock) != 1) {
            close_connection(c);
            return true;
        }
    }
    c->header_deadline = Clock::now() + std::chrono::seconds(limits_.header_timeout_s);
    watch(std::move(c), /*idle=*/false);
    return true;
}

void GuardedServer::watch(std::shared_ptr<Connection> c, bool idle) {
    if (stopping_) {
        close_connection(c);
        return;
    }
    c->idle = idle;
    c->saw_bytes = false;
    c->deadline = c->draining ? Clock::now() + std::chrono::seconds(2)
                  : idle      ? Clock::now() + std::chrono::seconds(limits_.keep_alive_timeout_s)
                              : c->header_deadline;
    const int fd = c->fd;
    std::lock_guard<std::mutex> lock(mu_);
    waiting_[fd] = std::move(c);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
    ev.data.fd = fd;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
}

void GuardedServer::close_connection(const std::shared_ptr<Connection>& c) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = per_client_.find(c->ip);
        if (it != per_client_.end() && --it->second <= 0)
            per_client_.erase(it);
    }
    --open_;
    if (c->ssl && c->handshake_done && !c->draining)
        SSL_shutdown(c->ssl);
    ::shutdown(c->fd, SHUT_RDWR);
}

void GuardedServer::poll_loop() {
    std::vector<epoll_event> events(256);
    std::vector<char> peek(kPeekBytes);
    while (!stopping_) {
        int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), 200);
        if (n < 0 && errno != EINTR)
            break;
        std::vector<std::shared_ptr<Connection>> ready, dropped;
        const auto now = Clock::now();
        {
            std::lock_guard<std::mutex> lock(mu_);
            for (int i = 0; i < n; ++i) {
                const int fd = events[i].data.fd;
                if (fd == wake_fd_)
                    continue;
                auto it = waiting_.find(fd);
                if (it == waiting_.end())
                    continue;
                auto& c = it->second;
                bool dispatch = false, drop = false;
                if (c->draining) {
                    for (;;) {
                        ssize_t r = ::recv(fd, peek.data(), peek.size(), MSG_DONTWAIT);
                        if (r > 0)
                            continue;
                        drop = r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
                        break;
                    }
                } else if (c->ssl) {
                    // Encrypted: cannot tell a complete header block; a worker reads it with
                    // the header deadline.
                    if (c->idle)
                        c->header_deadline = now + std::chrono::seconds(limits_.header_timeout_s);
                    dispatch = true;
                } else {
                    ssize_t r = ::recv(fd, peek.data(), peek.size(), MSG_PEEK | MSG_DONTWAIT);
                    if (r == 0 ||
                        (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                        drop = true;
                    } else if (r > 0) {
                        if (c->idle && !c->saw_bytes) {
                            c->saw_bytes = true;
                            c->header_deadline =
                                now + std::chrono::seconds(limits_.header_timeout_s);
                            c->deadline = c->header_deadline;
                        }
                        const char* begin = peek.data();
                        const char* end = begin + r;
                        static const char kBlank[] = "\r\n\r\n";
                        dispatch = std::search(begin, end, kBlank, kBlank + 4) != end ||
                                   static_cast<std::size_t>(r) >= peek.size();
                    }
                }
                if (dispatch || drop) {
                    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
                    (dispatch ? ready : dropped).push_back(std::move(c));
                    waiting_.erase(it);
                }
            }
            for (auto it = waiting_.begin(); it != waiting_.end();) {
                if (it->second->deadline <= now) {
                    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, it->first, nullptr);
                    if (!it->second->draining && (!it->second->idle || it->second->saw_bytes))
                        ++timed_out_;
                    dropped.push_back(std::move(it->second));
                    it = waiting_.erase(it);
                } else {
                    ++it;
                }
            }
        }
        for (auto& c : dropped) close_connection(c);
        for (auto& c : ready) workers_->enqueue([this, c]() mutable { serve(std::move(c)); });
    }
}

void GuardedServer::serve(std::shared_ptr<Connection> c) {
    if (c->ssl && !c->handshake_done) {
        if (!tls_handshake(*c)) {
            close_connection(c);
            return;
        }
        c->handshake_done = true;
    }
    for (;;) {
        ConnStream strm(*c, limits_);
        const bool close_after = ++c->requests >= limits_.keep_alive_max_count || stopping_;
        bool closed = false;
        bool ok = process_request(strm, close_after, closed,
                                  [&c](httplib::Request& req) { req.ssl = c->ssl; });
        bool must_close = after_request_ ? after_request_() : false;
        if (!ok) {
            close_connection(c);
            return;
        }
        if (closed || close_after || must_close) {
            // Lingering close: the answer is sent, FIN follows; input still arriving (e.g. an
            // upload refused before its body was read) is discarded for a moment, so that
            // closing with unread data does not reset the connection before the client has
            // read the answer.
            if (c->ssl)
                SSL_shutdown(c->ssl);
            ::shutdown(c->fd, SHUT_WR);
            c->draining = true;
            watch(std::move(c), /*idle=*/false);
            return;
        }
        if (c->has_buffered() || (c->ssl && SSL_pending(c->ssl) > 0)) {
            c->header_deadline = Clock::now() + std::chrono::seconds(limits_.header_timeout_s);
            continue;  // a pipelined request is already here
        }
        break;
    }
    watch(std::move(c), /*idle=*/true);
}

}  // namespace earshot::server
