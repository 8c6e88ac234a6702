// Regressions for the attacks of issue 12 that concern the server (docs/reliability.md): a long
// upload (decoded-duration limit, bounded line of uploads with 503), slow and idle connections
// (slowloris, keep-alive), Range with a huge end, bearer tokens, TLS and CORS. Real sockets on
// 127.0.0.1, real FFmpeg-encoded audio, a real OpenSSL certificate; every loop is bounded.
#include <arpa/inet.h>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "../audio/encode_fixture.h"
#include "server/http_server.h"
#include "test_support.h"

namespace earshot {
namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

std::string read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A small indexed library and a server over it with the given options.
struct Served {
    testing::TempDir dir;
    std::unique_ptr<Engine> engine;
    std::unique_ptr<HttpServer> server;
    std::thread runner;
    std::string error;
    std::int64_t first_id = -1;

    explicit Served(ServerOptions so) {
        fs::create_directories(dir / "lib");
        for (int i = 0; i < 3; ++i) {
            testing::write_wav16(dir / "lib" / ("tone_" + std::to_string(i) + ".wav"),
                                 testing::make_sine(220.0 * (i + 1), 1.0, 16000), 16000);
        }
        EngineOptions eo;
        eo.db_path = dir / "lib.earshot";
        eo.threads = 2;
        eo.create_if_missing = true;
        auto e = Engine::open(eo);
        if (!e) {
            error = e.error().to_string();
            return;
        }
        engine = std::move(*e);
        IndexOptions io;
        io.paths = {dir / "lib"};
        io.model = "mfcc";
        auto report = engine->index(io);
        if (!report || report->counts.added != 3) {
            error = report ? "index failures" : report.error().to_string();
            return;
        }
        auto items = engine->catalog().list_items(0, 1, "");
        first_id = items && !items->empty() ? items->front().id : -1;
        so.port = 0;
        so.models_dir = testing::models_dir();
        auto s = HttpServer::create(*engine, so);
        if (!s) {
            error = s.error().to_string();
            return;
        }
        server = std::move(*s);
        runner = std::thread([this] { (void)server->run(); });
        for (int i = 0; i < 500 && !server->is_running(); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        if (!server->is_running())
            error = "server did not start";
    }
    ~Served() {
        if (server)
            server->stop();
        if (runner.joinable())
            runner.join();
    }
    httplib::Client client(int timeout_s = 30) const {
        httplib::Client c("127.0.0.1", server->port());
        c.set_connection_timeout(timeout_s, 0);
        c.set_read_timeout(timeout_s, 0);
        c.set_write_timeout(timeout_s, 0);
        return c;
    }
};

// A raw TCP connection to the server (for half-sent requests).
int connect_raw(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

bool send_all(int fd, const std::string& s) {
    return ::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
}

// Reads until EOF or timeout; returns what came.
std::string read_some(int fd, int timeout_ms) {
    std::string out;
    const auto end = Clock::now() + std::chrono::milliseconds(timeout_ms);
    char buf[4096];
    while (Clock::now() < end) {
        pollfd p{fd, POLLIN, 0};
        int left = static_cast<int>(
            std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count());
        if (::poll(&p, 1, std::max(1, left)) <= 0)
            break;
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

// True if the peer closed the connection within timeout_ms.
bool closed_by_peer(int fd, int timeout_ms) {
    const auto end = Clock::now() + std::chrono::milliseconds(timeout_ms);
    char buf[4096];
    while (Clock::now() < end) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 50) > 0) {
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0)
                return true;
        }
    }
    return false;
}

httplib::MultipartFormDataItems upload(const std::string& content, const std::string& name) {
    return {{"file", content, name, "application/octet-stream"}, {"model", "mfcc", "", ""}};
}

// ---------------------------------------------------------------------------------------------
// Long uploads

TEST(ServerHardening, UploadLongerThanTheQueryLimitIsRefusedWhileDecoding) {
    ServerOptions so;
    so.max_upload_bytes = 8 << 20;
    so.max_query_seconds = 120.0;
    Served s(so);
    ASSERT_TRUE(s.error.empty()) << s.error;
    // One hour of FLAC silence at 8 kHz: ~1 MB on disk, 3600 s decoded (the issue's 10-hour Opus
    // in miniature). Encoded by FFmpeg's FLAC encoder.
    testing::FixtureSpec spec;
    spec.container = "flac";
    spec.codec = "flac";
    spec.sample_rate_hz = 8000;
    const fs::path flac = s.dir / "hour.flac";
    ASSERT_TRUE(encode_fixture(flac, spec, std::int64_t{3600} * 8000,
                               [](int, std::int64_t) { return 0.0f; }));
    const std::string bytes = read_bytes(flac);
    ASSERT_LT(bytes.size(), std::size_t{8} << 20);

    auto c = s.client();
    auto res = c.Post("/api/search", upload(bytes, "hour.flac"));
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 413) << res->body;
    auto body = json::parse(res->body);
    const std::string message = body["error"]["message"];
    EXPECT_NE(message.find("120 s"), std::string::npos) << message;
    EXPECT_NE(message.find("--max-query-seconds"), std::string::npos) << message;
    EXPECT_NE(message.find("hour.flac"), std::string::npos) << message;

    // Within the limit the same kind of file is searched normally.
    const fs::path shorter = s.dir / "minute.flac";
    ASSERT_TRUE(encode_sine_fixture(shorter, spec, 440.0, 60.0, 0.3f));
    res = c.Post("/api/search", upload(read_bytes(shorter), "minute.flac"));
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << res->body;
}

TEST(ServerHardening, UploadOverItsTimeBudgetGets503) {
    ServerOptions so;
    so.max_upload_bytes = 8 << 20;
    so.request_budget_s = 0.001;  // passed before the first frame is decoded
    Served s(so);
    ASSERT_TRUE(s.error.empty()) << s.error;
    testing::FixtureSpec spec;
    spec.container = "flac";
    spec.codec = "flac";
    spec.sample_rate_hz = 8000;
    const fs::path flac = s.dir / "minute.flac";
    ASSERT_TRUE(encode_sine_fixture(flac, spec, 440.0, 60.0, 0.3f));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    auto c = s.client();
    auto res = c.Post("/api/search", upload(read_bytes(flac), "minute.flac"));
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 503) << res->body;
    EXPECT_TRUE(res->has_header("Retry-After"));
    EXPECT_NE(res->body.find("--request-budget"), std::string::npos) << res->body;
}

TEST(ServerHardening, UploadsBeyondTheLineGet503WhileSearchesByIdAnswer) {
    ServerOptions so;
    so.max_concurrent_embeddings = 1;
    so.embed_queue = 0;
    so.read_timeout_s = 3;
    Served s(so);
    ASSERT_TRUE(s.error.empty()) << s.error;
    // An upload whose body never finishes holds the only place in line.
    int slow = connect_raw(s.server->port());
    ASSERT_GE(slow, 0);
    ASSERT_TRUE(send_all(slow,
                         "POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/"
                         "form-data; boundary=XyZ\r\nContent-Length: 100000\r\n\r\n--XyZ\r\n"));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));

    const std::string wav = read_bytes(s.dir / "lib" / "tone_1.wav");
    auto c = s.client();
    auto res = c.Post("/api/search", upload(wav, "tone.wav"));
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 503) << res->body;
    EXPECT_EQ(res->get_header_value("Retry-After"), "5");
    EXPECT_NE(res->body.find("too many audio searches"), std::string::npos) << res->body;

    auto c2 = s.client();
    auto by_id =
        c2.Post("/api/search", json{{"id", std::to_string(s.first_id)}}.dump(), "application/json");
    ASSERT_TRUE(by_id);
    EXPECT_EQ(by_id->status, 200) << by_id->body;
    // The page sends searches by id as a (small) multipart form: no place in line needed.
    auto by_id_form = c2.Post(
        "/api/search", httplib::MultipartFormDataItems{{"id", std::to_string(s.first_id), "", ""}});
    ASSERT_TRUE(by_id_form);
    EXPECT_EQ(by_id_form->status, 200) << by_id_form->body;
    auto health = c2.Get("/health");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);

    // The stalled upload gives its place back when it goes away.
    ::close(slow);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto c3 = s.client();
    res = c3.Post("/api/search", upload(wav, "tone.wav"));
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << res->body;
}

// ---------------------------------------------------------------------------------------------
// Slow and idle connections

TEST(ServerHardening, SlowlorisConnectionsDoNotStopHealthOrSearch) {
    ServerOptions so;
    so.worker_threads = 4;
    so.max_concurrent_embeddings = 1;
    so.embed_queue = 0;
    so.header_timeout_s = 3;
    Served s(so);
    ASSERT_TRUE(s.error.empty()) << s.error;
    // 100 clients each send an unfinished header and then one more header line now and then.
    std::vector<int> slow;
    for (int i = 0; i < 100; ++i) {
        int fd = connect_raw(s.server->port());
        ASSERT_GE(fd, 0);
        ASSERT_TRUE(send_all(fd, "GET /health HTTP/1.1\r\nHost: x\r\n"));
        slow.push_back(fd);
    }
    for (int round = 0; round < 3; ++round) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        for (int fd : slow) send_all(fd, "X-Slow: " + std::to_string(round) + "\r\n");
        auto c = s.client(/*timeout_s=*/2);
        const auto t0 = Clock::now();
        auto health = c.Get("/health");
        ASSERT_TRUE(health) << "round " << round << ": " << httplib::to_string(health.error());
        EXPECT_EQ(health->status, 200);
        auto by_id = c.Post("/api/search", json{{"id", std::to_string(s.first_id)}}.dump(),
                            "application/json");
        ASSERT_TRUE(by_id) << httplib::to_string(by_id.error());
        EXPECT_EQ(by_id->status, 200) << by_id->body;
        EXPECT_LT(Clock::now() - t0, std::chrono::seconds(2));
    }
    // The header deadline (3 s from accept) closes them, however they dribble.
    int closed = 0;
    const auto t_close = Clock::now();
    for (int fd : slow) {
        if (closed_by_peer(fd, 5000))
            ++closed;
        ::close(fd);
    }
    EXPECT_EQ(closed, 100);
    std::printf("slowloris: 100 connections closed %.1f s after the last round\n",
                std::chrono::duration<double>(Clock::now() - t_close).count());
}

TEST(ServerHardening, IdleKeepAliveConnectionsHoldNoWorker) {
    ServerOptions so;
    so.worker_threads = 4;
    so.max_concurrent_embeddings = 1;
    so.embed_queue = 0;
    so.keep_alive_timeout_s = 30;
    Served s(so);
    ASSERT_TRUE(s.error.empty()) << s.error;
    // 32 keep-alive clients make one request each and stay connected, idle.
    std::vector<std::unique_ptr<httplib::Client>> idle;
    for (int i = 0; i < 32; ++i) {
        auto c = std::make_unique<httplib::Client>("127.0.0.1", s.server->port());
        c->set_keep_alive(true);
        c->set_read_timeout(2, 0);
        auto r = c->Get("/health");
        ASSERT_TRUE(r) << i << ": " << httplib::to_string(r.error());
        EXPECT_EQ(r->status, 200);
        idle.push_back(std::move(c));
    }
    EXPECT_EQ(s.server->port() > 0, true);
    for (int i = 0; i < 10; ++i) {
        auto c = s.client(/*timeout_s=*/2);
        auto r = c.Get("/api/stats");
        ASSERT_TRUE(r) << i << ": " << httplib::to_string(r.error());
        EXPECT_EQ(r->status, 200);
    }
    // And the idle ones are still usable (their connection was kept).
    for (auto& c : idle) {
        auto r = c->Get("/health");
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200);
    }
}

TEST(ServerHardening, ConnectionsPerClientAreCapped) {
    ServerOptions so;
    so.max_connections_per_client = 8;
    Served s(so);
    ASSERT_TRUE(s.error.empty()) << s.error;
    std::vector<int> held;
    for (int i = 0; i < 8; ++i) {
        int fd = connect_raw(s.server->port());
        ASSERT_GE(fd, 0);
        held.push_back(fd);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    int extra = connect_raw(s.server->port());
    ASSERT_GE(extra, 0);
    std::string answer = read_some(extra, 2000);
    EXPECT_NE(answer.find("503"), std::string::npos) << answer;
    EXPECT_NE(answer.find("Retry-After"), std::string::npos) << answer;
    ::close(extra);
    for (int fd : held) ::close(fd);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto c = s.client(2);
    auto r = c.Get("/health");
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    EXPECT_EQ(r->status, 200);
}

// ---------------------------------------------------------------------------------------------
// Range

TEST(ServerHardening, RangeWithAHugeEndIsClamped) {
    Served s(ServerOptions{});
    ASSERT_TRUE(s.error.empty()) << s.error;
    auto item = s.engine->catalog().get_item(s.first_id);
    ASSERT_TRUE(item);
    const std::string file = read_bytes(item->path);
    auto c = s.client();
    for (const char* path : {"/audio", "/download"}) {
        auto res = c.Get("/api/items/" + std::to_string(s.first_id) + path,
                         {{"Range", "bytes=0-18446744073709551615"}});
        ASSERT_TRUE(res);
        EXPECT_EQ(res->status, 206) << res->body;
        EXPECT_EQ(res->get_header_value("Content-Range"),
                  "bytes 0-" + std::to_string(file.size() - 1) + "/" + std::to_string(file.size()));
        EXPECT_EQ(res->body, file);
    }
    auto res = c.Get("/api/items/" + std::to_string(s.first_id) + "/audio",
                     {{"Range", "bytes=100-99999999999999999999999"}});
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 206);
    EXPECT_EQ(res->body, file.substr(100));
    // Still unsatisfiable: a start beyond the file.
    res = c.Get("/api/items/" + std::to_string(s.first_id) + "/audio",
                {{"Range", "bytes=99999999999999999999999-"}});
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 416);
}

// ---------------------------------------------------------------------------------------------
// Authentication, TLS, CORS

constexpr const char* kToken = "0123456789abcdef0123456789abcdef";

TEST(ServerHardening, TokenIsRequiredForTheApiAndAudio) {
    ServerOptions so;
    so.token = kToken;
    Served s(so);
    ASSERT_TRUE(s.error.empty()) << s.error;
    auto c = s.client();
    const std::string id = std::to_string(s.first_id);
    // Open: health and the page (which asks for the token), without the boot data (stats and
    // models need the token).
    EXPECT_EQ(c.Get("/health")->status, 200);
    auto page = c.Get("/");
    ASSERT_TRUE(page);
    EXPECT_EQ(page->status, 200);
    EXPECT_NE(page->body.find(R"(<script id="earshot-boot" type="application/json"></script>)"),
              std::string::npos);
    // Closed without (or with a wrong) token.
    const std::vector<std::string> closed = {"/api/stats", "/api/items", "/api/items/" + id,
                                             "/api/items/" + id + "/audio", "/api/map"};
    for (const std::string& path : closed) {
        auto r = c.Get(path);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 401) << path;
        EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Bearer realm=\"earshot\"");
        r = c.Get(path, {{"Authorization", "Bearer 0123456789abcdef0123456789abcdeX"}});
        EXPECT_EQ(r->status, 401) << path;
        r = c.Get(path, {{"Authorization", "Bearer 0123"}});
        EXPECT_EQ(r->status, 401) << path;
    }
    auto r = c.Get("/api/items/" + id + "/audio", {{"Range", "bytes=0-18446744073709551615"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    auto up = c.Post("/api/search", upload(read_bytes(s.dir / "lib" / "tone_0.wav"), "q.wav"));
    ASSERT_TRUE(up);
    EXPECT_EQ(up->status, 401);
    // With it.
    httplib::Headers auth = {{"Authorization", std::string("Bearer ") + kToken}};
    EXPECT_EQ(c.Get("/api/stats", auth)->status, 200);
    EXPECT_EQ(c.Get("/api/items/" + id + "/audio", auth)->status, 200);
    up = c.Post("/api/search", auth, upload(read_bytes(s.dir / "lib" / "tone_0.wav"), "q.wav"));
    ASSERT_TRUE(up);
    EXPECT_EQ(up->status, 200) << up->body;
    // Media elements: ?access_token= on audio and download only.
    EXPECT_EQ(c.Get("/api/items/" + id + "/audio?access_token=" + kToken)->status, 200);
    EXPECT_EQ(c.Get("/api/items/" + id + "/download?access_token=" + kToken)->status, 200);
    EXPECT_EQ(c.Get(std::string("/api/stats?access_token=") + kToken)->status, 401);
}

TEST(ServerHardening, NoCorsHeadersByDefault) {
    Served s(ServerOptions{});
    ASSERT_TRUE(s.error.empty()) << s.error;
    auto c = s.client();
    auto r = c.Get("/api/stats", {{"Origin", "http://evil.example"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_FALSE(r->has_header("Access-Control-Allow-Origin"));
    auto pre = c.Options("/api/search", {{"Origin", "http://evil.example"},
                                         {"Access-Control-Request-Method", "POST"}});
    ASSERT_TRUE(pre);
    EXPECT_FALSE(pre->has_header("Access-Control-Allow-Origin"));
    EXPECT_FALSE(pre->has_header("Access-Control-Allow-Methods"));
}

TEST(ServerHardening, ServesHttpsWithASelfSignedCertificate) {
    testing::TempDir tls;
    const fs::path cert = tls / "cert.pem";
    const fs::path key = tls / "key.pem";
    const std::string cmd =
        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "
        "/CN=127.0.0.1 -keyout '" +
        key.string() + "' -out '" + cert.string() + "' >/dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    ServerOptions so;
    so.tls_cert = cert;
    so.tls_key = key;
    so.token = kToken;
    Served s(so);
    ASSERT_TRUE(s.error.empty()) << s.error;
    EXPECT_TRUE(s.server->is_tls());

    httplib::SSLClient c("127.0.0.1", s.server->port());
    c.set_ca_cert_path(cert.c_str());
    c.enable_server_certificate_verification(false);  // CN, not a subjectAltName
    c.set_read_timeout(10, 0);
    auto r = c.Get("/health");
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    EXPECT_EQ(r->status, 200);
    r = c.Get("/api/stats");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    r = c.Get("/api/stats", {{"Authorization", std::string("Bearer ") + kToken}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    // Keep-alive over TLS: several requests on the one connection.
    for (int i = 0; i < 3; ++i) {
        auto again = c.Get("/health");
        ASSERT_TRUE(again);
        EXPECT_EQ(again->status, 200);
    }
    // An upload over TLS.
    auto up = c.Post("/api/search", {{"Authorization", std::string("Bearer ") + kToken}},
                     upload(read_bytes(s.dir / "lib" / "tone_2.wav"), "q.wav"));
    ASSERT_TRUE(up) << httplib::to_string(up.error());
    EXPECT_EQ(up->status, 200) << up->body;

    // Plain HTTP to the TLS port gets no HTTP answer.
    auto plain = s.client(3);
    auto p = plain.Get("/health");
    EXPECT_TRUE(!p || p->status != 200);

    // A bad key file is refused at start.
    ServerOptions bad = so;
    bad.tls_key = cert;
    EngineOptions eo;
    eo.db_path = s.dir / "lib.earshot";
    auto e2 = Engine::open(eo);
    ASSERT_TRUE(e2);
    auto refused = HttpServer::create(**e2, bad);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message().find("--tls-key"), std::string::npos);
}

}  // namespace
}  // namespace earshot
