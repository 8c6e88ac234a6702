// libFuzzer: the HTTP server's request parsing. The input is a raw HTTP request fed to
// cpp-httplib's request processing (request line, headers, query string, urlencoded / multipart /
// JSON bodies) through a subclass that exposes Server::process_request; the route handlers call
// the server's own helpers (server/request_params.cpp: request_param, parse_item_id,
// parse_int_param, parse_seconds_param) and the index/metric parsers the search route uses.
// cpp-httplib itself is Debian's shared library and not instrumented: coverage guidance comes
// from our code; ASan still checks every allocation it makes.
#include <cstdint>
#include <cstdlib>
#include <string>

#include <httplib.h>

#include "fuzz_util.h"
#include "index/metric.h"
#include "index/vector_index.h"
#include "server/detail/routes.h"

namespace {

using earshot::server::parse_int_param;
using earshot::server::parse_item_id;
using earshot::server::parse_seconds_param;
using earshot::server::request_param;

void handle_params(const httplib::Request& req, httplib::Response& res) {
    int ok = 0;
    for (const char* name : {"model", "metric", "k", "min_duration", "max_duration", "index",
                             "ef_search", "nprobe", "id", "offset", "limit", "q", "points"}) {
        auto v = request_param(req, name);
        if (!v)
            continue;
        const std::string n = name;
        if (n == "metric")
            ok += earshot::parse_metric(*v).has_value();
        else if (n == "index")
            ok += earshot::parse_index_spec(*v).has_value();
        else if (n == "id")
            ok += parse_item_id(*v).has_value();
        else if (n == "min_duration" || n == "max_duration")
            ok += parse_seconds_param(n, *v).has_value();
        else
            ok += parse_int_param(n, *v, 1, 1000).has_value();
    }
    if (req.has_file("file")) {
        auto f = req.get_file_value("file");
        ok += static_cast<int>(f.content.size() % 2);
    }
    if (req.has_header("Range")) {
        httplib::Ranges ranges;
        ok += httplib::detail::parse_range_header(req.get_header_value("Range"), ranges);
    }
    if (req.matches.size() > 1)
        ok += parse_item_id(req.matches[1].str()).has_value();
    res.set_content(std::to_string(ok), "text/plain");
}

class FuzzServer : public httplib::Server {
public:
    FuzzServer() {
        set_payload_max_length(1 << 20);
        Post("/api/search", handle_params);
        Get("/api/items", handle_params);
        Get(R"(/api/items/([^/]+)/audio)", handle_params);
        Get("/api/map", handle_params);
    }
    void feed(const std::uint8_t* data, std::size_t size) {
        httplib::detail::BufferStream strm;
        strm.write(reinterpret_cast<const char*>(data), size);
        bool closed = false;
        process_request(strm, /*close_connection=*/true, closed, [](httplib::Request&) {});
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    earshot::fuzz::silence_logs();
    static FuzzServer* server = new FuzzServer();
    server->feed(data, size);
    return 0;
}
