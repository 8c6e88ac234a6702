// The HTTP API in-process: a tiny generated library (tones/ and noise/, indexed with the
// weight-free mfcc model), the server on 127.0.0.1 with a free port, and cpp-httplib's client.
// Every endpoint, bad input (non-audio, oversized, unknown ids, traversal, a file swapped for a
// symlink), Range requests, and concurrent searches while the engine indexes.
#include "server/http_server.h"

#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <netinet/in.h>
#include <set>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "server/web_assets.h"
#include "synthetic_items.h"
#include "test_support.h"

namespace earshot {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

std::string read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A generated library, an engine over it and a running server.
struct Library {
    testing::TempDir dir;
    fs::path lib;
    std::unique_ptr<Engine> engine;
    std::unique_ptr<HttpServer> server;
    std::thread runner;
    std::string setup_error;

    explicit Library(std::size_t max_upload_bytes = 1 << 20) {
        lib = dir / "lib";
        fs::create_directories(lib / "tones");
        fs::create_directories(lib / "noise");
        fs::create_directories(lib / "swap");
        const double freqs[] = {220.0, 330.0, 440.0, 550.0, 660.0};
        for (std::size_t i = 0; i < 5; ++i) {
            testing::write_wav16(lib / "tones" / ("sine_" + std::to_string(int(freqs[i])) + ".wav"),
                                 testing::make_sine(freqs[i], 0.5 + 0.5 * double(i), 16000), 16000);
        }
        for (unsigned i = 0; i < 4; ++i) {
            testing::write_wav16(lib / "noise" / ("noise_" + std::to_string(i) + ".wav"),
                                 testing::make_noise(1.0 + 0.25 * i, 16000, 0.1f, 1234 + i), 16000);
        }
        testing::write_wav16(lib / "swap" / "victim.wav", testing::make_sine(880.0, 1.0, 16000),
                             16000);
        EngineOptions eo;
        eo.db_path = dir / "lib.earshot";
        eo.threads = 2;
        eo.create_if_missing = true;
        auto e = Engine::open(eo);
        if (!e) {
            setup_error = e.error().to_string();
            return;
        }
        engine = std::move(*e);
        IndexOptions io;
        io.paths = {lib};
        io.model = "mfcc";
        auto report = engine->index(io);
        if (!report || report->counts.failed != 0 || report->counts.added != 10) {
            setup_error = report ? "index failures" : report.error().to_string();
            return;
        }
        ServerOptions so;
        so.port = 0;
        so.max_upload_bytes = max_upload_bytes;
        so.models_dir = testing::models_dir();
        auto s = HttpServer::create(*engine, so);
        if (!s) {
            setup_error = s.error().to_string();
            return;
        }
        server = std::move(*s);
        runner = std::thread([this] { (void)server->run(); });
        for (int i = 0; i < 500 && !server->is_running(); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        if (!server->is_running())
            setup_error = "server did not start";
    }
    ~Library() {
        if (server)
            server->stop();
        if (runner.joinable())
            runner.join();
    }
    httplib::Client client() const {
        httplib::Client c("127.0.0.1", server->port());
        c.set_read_timeout(60, 0);
        c.set_write_timeout(60, 0);
        return c;
    }
    std::int64_t id_of(const std::string& name) const {
        auto items = engine->catalog().list_items(0, -1, name);
        return items && !items->empty() ? items->front().id : -1;
    }
};

class HttpServerTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() { lib_ = new Library(); }
    static void TearDownTestSuite() {
        delete lib_;
        lib_ = nullptr;
    }
    void SetUp() override { ASSERT_TRUE(lib_->setup_error.empty()) << lib_->setup_error; }

    static httplib::Client client() { return lib_->client(); }
    static json body_json(const httplib::Result& r) {
        return json::parse(r->body, nullptr, /*allow_exceptions=*/false);
    }
    // Checks a JSON error response: status, {"error": {"code", "message"}}.
    static void expect_error(const httplib::Result& r, int status, const std::string& code = "") {
        ASSERT_TRUE(r) << "no response";
        EXPECT_EQ(r->status, status) << r->body;
        EXPECT_EQ(r->get_header_value("Content-Type"), "application/json") << r->body;
        auto j = body_json(r);
        ASSERT_TRUE(j.is_object() && j.contains("error")) << r->body;
        EXPECT_TRUE(j["error"]["message"].is_string());
        if (!code.empty()) {
            EXPECT_EQ(j["error"]["code"], code) << r->body;
        }
    }
    static httplib::Result search(const httplib::MultipartFormDataItems& items) {
        return client().Post("/api/search", items);
    }

    static Library* lib_;
};
Library* HttpServerTest::lib_ = nullptr;

TEST_F(HttpServerTest, HealthAndStats) {
    auto r = client().Get("/health");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    auto j = body_json(r);
    EXPECT_EQ(j["status"], "ok");
    EXPECT_EQ(j["items"], 10);

    r = client().Get("/api/stats");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    j = body_json(r);
    EXPECT_EQ(j["items"], 10);
    ASSERT_EQ(j["models"].size(), 1u);
    EXPECT_EQ(j["models"][0]["model"], "mfcc");
    EXPECT_GT(j["audio_duration_s"].get<double>(), 10.0);
}

TEST_F(HttpServerTest, ModelsListsEveryModelAndTheCatalogsDefault) {
    auto r = client().Get("/api/models");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    auto j = body_json(r);
    EXPECT_EQ(j["default"], "mfcc");  // the only model this catalog has
    bool found = false;
    for (const auto& m : j["models"]) {
        if (m["name"] == "mfcc") {
            found = true;
            EXPECT_EQ(m["items"], 10);
            EXPECT_TRUE(m["weights_found"].get<bool>());
        }
    }
    EXPECT_TRUE(found) << j.dump();
}

TEST_F(HttpServerTest, ItemsPagingFilterAndBadParameters) {
    auto r = client().Get("/api/items?limit=3");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    auto page1 = body_json(r);
    EXPECT_EQ(page1["total"], 10);
    ASSERT_EQ(page1["items"].size(), 3u);
    r = client().Get("/api/items?offset=3&limit=3");
    auto page2 = body_json(r);
    ASSERT_EQ(page2["items"].size(), 3u);
    EXPECT_NE(page1["items"][0]["id"], page2["items"][0]["id"]);

    r = client().Get("/api/items?q=NOISE");
    auto noise = body_json(r);
    EXPECT_EQ(noise["total"], 4);
    for (const auto& it : noise["items"]) EXPECT_EQ(it["folder"], "noise");

    expect_error(client().Get("/api/items?limit=0"), 400, "InvalidArgument");
    expect_error(client().Get("/api/items?limit=abc"), 400, "InvalidArgument");
    expect_error(client().Get("/api/items?offset=-1"), 400, "InvalidArgument");
    expect_error(client().Get("/api/items?limit=100000"), 400, "InvalidArgument");
}

TEST_F(HttpServerTest, ItemMetadataAndUnknownIds) {
    auto id = lib_->id_of("sine_440");
    auto r = client().Get("/api/items/" + std::to_string(id));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    auto j = body_json(r);
    EXPECT_EQ(j["id"], id);
    EXPECT_EQ(j["name"], "sine_440.wav");
    EXPECT_EQ(j["folder"], "tones");
    EXPECT_EQ(j["models"], json::array({"mfcc"}));

    expect_error(client().Get("/api/items/999999"), 404, "NotFound");
    expect_error(client().Get("/api/items/999999/audio"), 404, "NotFound");
    expect_error(client().Get("/api/items/abc"), 400, "InvalidArgument");
    expect_error(client().Get("/api/items/0"), 400, "InvalidArgument");
    expect_error(client().Get("/api/items/-3/audio"), 400, "InvalidArgument");
    expect_error(client().Get("/api/items/99999999999999999999999"), 400, "InvalidArgument");
}

TEST_F(HttpServerTest, SearchByIdLeavesTheItemOut) {
    auto id = lib_->id_of("sine_440");
    auto r = search({{"id", std::to_string(id), "", ""}, {"k", "3", "", ""}});
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    auto j = body_json(r);
    EXPECT_EQ(j["model"], "mfcc");
    EXPECT_EQ(j["metric"], "cosine");
    ASSERT_EQ(j["results"].size(), 3u);
    for (const auto& res : j["results"]) {
        EXPECT_NE(res["id"], id);
        for (const char* key : {"rank", "path", "name", "duration_s", "distance", "score"}) {
            EXPECT_TRUE(res.contains(key)) << key;
        }
    }
    EXPECT_EQ(j["results"][0]["rank"], 1);

    // The same as a urlencoded form and as JSON, with another metric.
    auto form = client().Post("/api/search", "id=" + std::to_string(id) + "&k=2&metric=euclidean",
                              "application/x-www-form-urlencoded");
    ASSERT_TRUE(form);
    ASSERT_EQ(form->status, 200) << form->body;
    EXPECT_EQ(body_json(form)["metric"], "euclidean");
    EXPECT_EQ(body_json(form)["results"].size(), 2u);
    auto js = client().Post("/api/search", json{{"id", id}, {"k", 4}}.dump(), "application/json");
    ASSERT_TRUE(js);
    ASSERT_EQ(js->status, 200) << js->body;
    EXPECT_EQ(body_json(js)["results"].size(), 4u);
}

TEST_F(HttpServerTest, SearchDurationRange) {
    auto id = lib_->id_of("noise_0");
    auto r = search({{"id", std::to_string(id), "", ""},
                     {"k", "20", "", ""},
                     {"min_duration", "1.4", "", ""},
                     {"max_duration", "2.6", "", ""}});
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    auto j = body_json(r);
    ASSERT_FALSE(j["results"].empty());
    for (const auto& res : j["results"]) {
        EXPECT_GE(res["duration_s"].get<double>(), 1.4);
        EXPECT_LE(res["duration_s"].get<double>(), 2.6);
    }
}

TEST_F(HttpServerTest, SearchWithIndexSpecAndKnobs) {
    auto id = std::to_string(lib_->id_of("sine_440"));
    auto flat = search({{"id", id, "", ""}, {"k", "3", "", ""}, {"index", "flat", "", ""}});
    ASSERT_TRUE(flat);
    ASSERT_EQ(flat->status, 200) << flat->body;
    for (const char* spec : {"HNSW16", "IVF8,PQ10"}) {  // mfcc is 90-d
        auto r = search({{"id", id, "", ""},
                         {"k", "3", "", ""},
                         {"index", spec, "", ""},
                         {"ef_search", "64", "", ""},
                         {"nprobe", "8", "", ""}});
        ASSERT_TRUE(r);
        ASSERT_EQ(r->status, 200) << r->body;
        auto j = body_json(r);
        EXPECT_EQ(j["index"], spec);
        ASSERT_EQ(j["results"].size(), body_json(flat)["results"].size());
        // A library this small is searched exactly by every kind.
        for (std::size_t i = 0; i < j["results"].size(); ++i)
            EXPECT_EQ(j["results"][i]["id"], body_json(flat)["results"][i]["id"]) << spec;
    }
    expect_error(search({{"id", id, "", ""}, {"index", "lsh", "", ""}}), 400, "InvalidArgument");
    expect_error(search({{"id", id, "", ""}, {"nprobe", "0", "", ""}}), 400, "InvalidArgument");
}

TEST_F(HttpServerTest, SearchBadParameters) {
    auto id = std::to_string(lib_->id_of("sine_440"));
    expect_error(search({{"k", "3", "", ""}}), 400, "InvalidArgument");  // neither file nor id
    expect_error(search({{"id", id, "", ""}, {"k", "0", "", ""}}), 400, "InvalidArgument");
    expect_error(search({{"id", id, "", ""}, {"k", "ten", "", ""}}), 400, "InvalidArgument");
    expect_error(search({{"id", id, "", ""}, {"metric", "hamming", "", ""}}), 400,
                 "InvalidArgument");
    expect_error(
        search({{"id", id, "", ""}, {"min_duration", "3", "", ""}, {"max_duration", "1", "", ""}}),
        400, "InvalidArgument");
    expect_error(search({{"id", id, "", ""}, {"min_duration", "nan", "", ""}}), 400,
                 "InvalidArgument");
    // Not a number and no such key: nothing is read from disk, the lookup is by catalog key.
    expect_error(search({{"id", "1/../../etc/passwd", "", ""}}), 404, "NotFound");
    expect_error(search({{"id", "424242", "", ""}}), 404, "NotFound");
    auto unknown_model = search({{"id", id, "", ""}, {"model", "nope", "", ""}});
    ASSERT_TRUE(unknown_model);
    EXPECT_TRUE(unknown_model->status == 400 || unknown_model->status == 404)
        << unknown_model->body;
    expect_error(client().Get("/api/search"), 405, "MethodNotAllowed");
}

TEST_F(HttpServerTest, SearchByUploadLeavesIdenticalBytesOut) {
    auto bytes = read_bytes(lib_->lib / "tones" / "sine_440.wav");
    auto self = lib_->id_of("sine_440");
    auto r = search({{"file", bytes, "query.wav", "audio/wav"}, {"k", "5", "", ""}});
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    auto j = body_json(r);
    EXPECT_EQ(j["query"], "query.wav");
    ASSERT_EQ(j["results"].size(), 5u);
    for (const auto& res : j["results"]) EXPECT_NE(res["id"], self);
    // A tone's nearest neighbours are tones, not noise.
    EXPECT_NE(j["results"][0]["name"].get<std::string>().find("sine_"), std::string::npos);
    // Upload and id together is ambiguous.
    expect_error(search({{"file", bytes, "q.wav", "audio/wav"}, {"id", "1", "", ""}}), 400);
}

TEST_F(HttpServerTest, TagsFoldersFiltersAndFacets) {
    // Tags written as another process would (the engine's catalog is read-only).
    auto writer = testing::catalog_writer(lib_->dir / "lib.earshot");
    ASSERT_TRUE(writer);
    auto& cat = *writer;
    const auto n0 = lib_->id_of("noise_0");
    const auto n3 = lib_->id_of("noise_3");
    const auto s220 = lib_->id_of("sine_220");
    ASSERT_TRUE(cat.set_tags({{n0, {{"Violin, fiddle", 0.8f}, {"Hum", 0.3f}}},
                              {n3, {{"Violin, fiddle", 0.6f}}},
                              {s220, {{"Hum", 0.5f}}}}));
    // Facets: tags with counts (ties by name), narrowed by the other filters.
    auto r = client().Get("/api/tags");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    auto j = body_json(r);
    EXPECT_EQ(j["total"], 10);
    ASSERT_EQ(j["tags"].size(), 2u) << j.dump();
    EXPECT_EQ(j["tags"][0]["tag"], "Hum");
    EXPECT_EQ(j["tags"][0]["count"], 2);
    EXPECT_EQ(j["tags"][1]["tag"], "Violin, fiddle");
    j = body_json(client().Get("/api/tags?folder=noise"));
    EXPECT_EQ(j["total"], 4);
    ASSERT_EQ(j["tags"].size(), 2u);
    EXPECT_EQ(j["tags"][0]["tag"], "Violin, fiddle");
    EXPECT_EQ(j["tags"][0]["count"], 2);
    j = body_json(client().Get("/api/folders"));
    EXPECT_EQ(j["root"], lib_->lib.string());
    std::map<std::string, int> folders;
    for (const auto& f : j["folders"]) folders[f["folder"]] = f["count"];
    EXPECT_EQ(folders, (std::map<std::string, int>{{"noise", 4}, {"swap", 1}, {"tones", 5}}));
    j = body_json(client().Get("/api/folders?tag=hum"));
    EXPECT_EQ(j["total"], 2);
    EXPECT_EQ(j["folders"].size(), 2u);

    // Item filters: tag (whole name, any case; repeatable = all), folder, q on tags.
    j = body_json(client().Get("/api/items?tag=violin%2C%20FIDDLE"));
    EXPECT_EQ(j["total"], 2);
    ASSERT_EQ(j["items"].size(), 2u);
    EXPECT_EQ(j["items"][0]["tags"][0]["tag"], "Violin, fiddle");
    EXPECT_EQ(body_json(client().Get("/api/items?q=fiddle"))["total"], 2);
    EXPECT_EQ(body_json(client().Get("/api/items?tag=Hum&tag=Violin%2C%20fiddle"))["total"], 1);
    EXPECT_EQ(body_json(client().Get("/api/items?folder=tones&tag=Hum"))["total"], 1);
    EXPECT_EQ(body_json(client().Get("/api/items?tag=Violin"))["total"], 0);
    j = body_json(client().Get("/api/items/" + std::to_string(n0)));
    ASSERT_EQ(j["tags"].size(), 2u);
    EXPECT_EQ(j["tags"][0]["tag"], "Violin, fiddle");

    // Search: the filter applies inside the search, so k tagged results come back although
    // the unfiltered top-k of a tone are tones.
    auto bytes = read_bytes(lib_->lib / "tones" / "sine_440.wav");
    r = search({{"file", bytes, "q.wav", "audio/wav"}, {"k", "2", "", ""}});
    ASSERT_EQ(r->status, 200) << r->body;
    for (const auto& res : body_json(r)["results"])
        EXPECT_NE(res["name"].get<std::string>().find("sine_"), std::string::npos);
    r = search({{"file", bytes, "q.wav", "audio/wav"},
                {"k", "2", "", ""},
                {"tag", "Violin, fiddle", "", ""}});
    ASSERT_EQ(r->status, 200) << r->body;
    j = body_json(r);
    ASSERT_EQ(j["results"].size(), 2u) << j.dump();
    std::set<std::int64_t> got = {j["results"][0]["id"], j["results"][1]["id"]};
    EXPECT_EQ(got, (std::set<std::int64_t>{n0, n3}));
    EXPECT_EQ(j["results"][0]["tags"][0]["tag"], "Violin, fiddle");
    r = search(
        {{"id", std::to_string(s220), "", ""}, {"k", "10", "", ""}, {"folder", "noise", "", ""}});
    ASSERT_EQ(r->status, 200) << r->body;
    j = body_json(r);
    ASSERT_EQ(j["results"].size(), 4u);
    for (const auto& res : j["results"])
        EXPECT_NE(res["path"].get<std::string>().find("/noise/"), std::string::npos);

    // q on the search: name, path or tag text, also inside the search.
    r = search(
        {{"file", bytes, "q.wav", "audio/wav"}, {"k", "5", "", ""}, {"q", "FIDDLE", "", ""}});
    ASSERT_EQ(r->status, 200) << r->body;
    j = body_json(r);
    ASSERT_EQ(j["results"].size(), 2u) << j.dump();
    got = {j["results"][0]["id"], j["results"][1]["id"]};
    EXPECT_EQ(got, (std::set<std::int64_t>{n0, n3}));
    expect_error(
        search({{"id", std::to_string(s220), "", ""}, {"q", std::string(501, 'x'), "", ""}}), 400,
        "InvalidArgument");

    // The map with the same filters: only the points passing them, "total" counts those.
    j = body_json(client().Get("/api/map?tag=Hum"));
    EXPECT_EQ(j["total"], 2);
    ASSERT_EQ(j["points"].size(), 2u) << j.dump();
    got = {j["points"][0]["id"], j["points"][1]["id"]};
    EXPECT_EQ(got, (std::set<std::int64_t>{n0, s220}));
    j = body_json(client().Get("/api/map?folder=noise&max_points=2"));
    EXPECT_EQ(j["total"], 4);
    ASSERT_EQ(j["points"].size(), 2u);
    for (const auto& p : j["points"]) EXPECT_EQ(p["folder"], "noise");
    j = body_json(client().Get("/api/map?q=sine_"));
    EXPECT_EQ(j["total"], 5) << j.dump();
    for (const auto& p : j["points"])
        EXPECT_NE(p["name"].get<std::string>().find("sine_"), std::string::npos);
    EXPECT_EQ(body_json(client().Get("/api/map?tag=nothing"))["points"].size(), 0u);
    EXPECT_EQ(body_json(client().Get("/api/map"))["points"].size(), 10u);  // not cached filtered
    expect_error(client().Get("/api/map?tag=" + std::string(1001, 'x')), 400, "InvalidArgument");

    // Bad input.
    std::string many = "/api/items?tag=a";
    for (int i = 0; i < 16; ++i) many += "&tag=a" + std::to_string(i);
    expect_error(client().Get(many), 400, "InvalidArgument");
    expect_error(client().Get("/api/tags?tag=" + std::string(1001, 'x')), 400, "InvalidArgument");
    expect_error(client().Get("/api/tags?limit=0"), 400, "InvalidArgument");
    expect_error(
        search({{"id", std::to_string(s220), "", ""}, {"tag", std::string(1001, 'x'), "", ""}}),
        400, "InvalidArgument");
    ASSERT_TRUE(cat.set_tags({{n0, {}}, {n3, {}}, {s220, {}}}));
}

TEST_F(HttpServerTest, SilentUploadIs422UnlessAllowed) {
    testing::TempDir tmp;
    testing::write_wav16(tmp / "silent.wav", std::vector<float>(16000, 0.0f), 16000);
    auto bytes = read_bytes(tmp / "silent.wav");
    auto r = search({{"file", bytes, "silent.wav", "audio/wav"}});
    expect_error(r, 422, "SilentQuery");
    EXPECT_NE(r->body.find("allow_silent"), std::string::npos) << r->body;
    r = search({{"file", bytes, "silent.wav", "audio/wav"}, {"allow_silent", "1", "", ""}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    expect_error(
        search({{"file", bytes, "silent.wav", "audio/wav"}, {"allow_silent", "maybe", "", ""}}),
        400, "InvalidArgument");
}

TEST_F(HttpServerTest, NonAudioUploadIs415) {
    expect_error(
        search({{"file", "just some text, not audio at all\n", "notes.txt", "text/plain"}}), 415,
        "NotSupported");
    expect_error(search({{"file", "", "empty.wav", "audio/wav"}}), 415, "NotSupported");
    // Starts like a WAV but is broken.
    expect_error(search({{"file", std::string("RIFF\x24\x00\x00\x00WAVEfmt ", 16) + "garbage",
                          "broken.wav", "audio/wav"}}),
                 415);
}

TEST_F(HttpServerTest, OversizedUploadIs413) {
    std::string big(2 << 20, 'x');  // the suite's limit is 1 MiB
    auto r = search({{"file", big, "big.wav", "audio/wav"}});
    expect_error(r, 413, "PayloadTooLarge");
    if (r && r->status == 413) {  // the message says the limit and the flag that raises it
        EXPECT_NE(r->body.find("limit of 1 MB"), std::string::npos) << r->body;
        EXPECT_NE(r->body.find("--max-upload-mb"), std::string::npos) << r->body;
    }
    // The page reads the limit from /api/stats to check before uploading.
    auto st = client().Get("/api/stats");
    ASSERT_TRUE(st);
    EXPECT_EQ(body_json(st)["max_upload_bytes"], 1 << 20);
    // The server is fine afterwards.
    auto h = client().Get("/health");
    ASSERT_TRUE(h);
    EXPECT_EQ(h->status, 200);
}

TEST_F(HttpServerTest, AudioStreamsTheIndexedFileWithRanges) {
    auto id = std::to_string(lib_->id_of("sine_440"));
    auto bytes = read_bytes(lib_->lib / "tones" / "sine_440.wav");
    const auto size = bytes.size();
    auto r = client().Get("/api/items/" + id + "/audio");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    EXPECT_EQ(r->body, bytes);
    EXPECT_EQ(r->get_header_value("Content-Type"), "audio/wav");
    EXPECT_EQ(r->get_header_value("Accept-Ranges"), "bytes");

    r = client().Get("/api/items/" + id + "/audio", {{"Range", "bytes=10-19"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 206);
    EXPECT_EQ(r->get_header_value("Content-Range"), "bytes 10-19/" + std::to_string(size));
    EXPECT_EQ(r->body, bytes.substr(10, 10));

    r = client().Get("/api/items/" + id + "/audio", {{"Range", "bytes=-5"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 206);
    EXPECT_EQ(r->body, bytes.substr(size - 5));

    r = client().Get("/api/items/" + id + "/audio", {{"Range", "bytes=100-"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 206);
    EXPECT_EQ(r->body, bytes.substr(100));

    // An end past the file is clamped (RFC 9110 14.1.1).
    r = client().Get("/api/items/" + id + "/audio", {{"Range", "bytes=5-99999999"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 206);
    EXPECT_EQ(r->get_header_value("Content-Range"),
              "bytes 5-" + std::to_string(size - 1) + "/" + std::to_string(size));
    EXPECT_EQ(r->body, bytes.substr(5));

    r = client().Get("/api/items/" + id + "/audio",
                     {{"Range", "bytes=" + std::to_string(size) + "-"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 416);
    EXPECT_EQ(r->get_header_value("Content-Range"), "bytes */" + std::to_string(size));
}

TEST_F(HttpServerTest, ZipOfSeveralItemsIsAValidArchive) {
    auto a = lib_->id_of("noise_1");
    auto b = lib_->id_of("sine_220");
    auto r = client().Get("/api/zip?ids=" + std::to_string(a) + "," + std::to_string(b) + "," +
                          std::to_string(a));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/zip");
    EXPECT_EQ(r->get_header_value("Content-Disposition"),
              "attachment; filename=\"earshot-2-sounds.zip\"");
    const std::string& zip = r->body;
    ASSERT_GT(zip.size(), 22u);
    EXPECT_EQ(zip.substr(0, 4), std::string("PK\x03\x04", 4));
    // The end record: 2 entries; each file's bytes are in the archive as they are on disk.
    auto eocd = zip.substr(zip.size() - 22);
    EXPECT_EQ(eocd.substr(0, 4), std::string("PK\x05\x06", 4));
    EXPECT_EQ(static_cast<unsigned char>(eocd[10]), 2u);
    for (const char* name : {"noise/noise_1.wav", "tones/sine_220.wav"}) {
        std::ifstream in(lib_->lib / name, std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        ASSERT_GT(bytes.size(), 100u);
        EXPECT_NE(zip.find(bytes), std::string::npos) << name;
    }
    // unzip (scripts/setup.sh installs it) checks the CRCs and the directory.
    if (std::system("command -v unzip >/dev/null 2>&1") == 0) {
        auto file = lib_->dir / "sel.zip";
        std::ofstream(file, std::ios::binary) << zip;
        EXPECT_EQ(std::system(("unzip -tq '" + file.string() + "' >/dev/null").c_str()), 0);
        auto list = lib_->dir / "list.txt";
        EXPECT_EQ(
            std::system(("unzip -Z1 '" + file.string() + "' > '" + list.string() + "'").c_str()),
            0);
        std::ifstream in(list);
        std::string names((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        EXPECT_EQ(names, "noise_1.wav\nsine_220.wav\n");
    }
    expect_error(client().Get("/api/zip"), 400, "InvalidArgument");
    expect_error(client().Get("/api/zip?ids=1,x"), 400, "InvalidArgument");
    expect_error(client().Get("/api/zip?ids=99999"), 404, "NotFound");
}

TEST_F(HttpServerTest, DownloadKeepsTheFileName) {
    auto id = std::to_string(lib_->id_of("noise_2"));
    auto r = client().Get("/api/items/" + id + "/download");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    EXPECT_EQ(r->body, read_bytes(lib_->lib / "noise" / "noise_2.wav"));
    auto cd = r->get_header_value("Content-Disposition");
    EXPECT_EQ(cd.rfind("attachment;", 0), 0u) << cd;
    EXPECT_NE(cd.find("filename=\"noise_2.wav\""), std::string::npos) << cd;
}

TEST_F(HttpServerTest, TraversalAttemptsNeverServeOtherFiles) {
    const char* paths[] = {
        "/api/items/../../etc/passwd",
        "/api/items/1%2F..%2F..%2Fetc%2Fpasswd",
        "/api/items/1%2F..%2F..%2Fetc%2Fpasswd/audio",
        "/api/items/..%2F..%2Fetc%2Fpasswd/download",
        "/api/items/1/../../../../etc/passwd",
        "/../../../etc/passwd",
        "/..%2F..%2F..%2Fetc%2Fpasswd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/style.css/../../../../etc/passwd",
        "/api/items/%00/audio",
    };
    for (const char* p : paths) {
        auto r = client().Get(p);
        ASSERT_TRUE(r) << p;
        EXPECT_TRUE(r->status == 400 || r->status == 404) << p << " -> " << r->status;
        EXPECT_EQ(r->body.find("root:"), std::string::npos) << p;
        EXPECT_EQ(r->get_header_value("Content-Type"), "application/json") << p;
    }
}

TEST_F(HttpServerTest, FileSwappedForASymlinkIsRefused) {
    auto id = std::to_string(lib_->id_of("victim"));
    auto victim = lib_->lib / "swap" / "victim.wav";
    auto r = client().Get("/api/items/" + id + "/audio");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    fs::remove(victim);
    fs::create_symlink("/etc/passwd", victim);
    for (const char* what : {"/audio", "/download", "/waveform"}) {
        r = client().Get("/api/items/" + id + what);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 409) << what;
        EXPECT_EQ(r->body.find("root:"), std::string::npos);
    }
    fs::remove(victim);
    expect_error(client().Get("/api/items/" + id + "/audio"), 404, "NotFound");
}

TEST_F(HttpServerTest, WaveformPeaks) {
    auto id = std::to_string(lib_->id_of("sine_220"));
    auto r = client().Get("/api/items/" + id + "/waveform?points=50");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    auto j = body_json(r);
    ASSERT_EQ(j["peaks"].size(), 50u);
    EXPECT_NEAR(j["peaks"][25].get<double>(), 0.5, 0.05);
    expect_error(client().Get("/api/items/" + id + "/waveform?points=0"), 400);
    expect_error(client().Get("/api/items/" + id + "/waveform?points=99999"), 400);
}

TEST_F(HttpServerTest, MapLayoutIsPcaByDefaultOrTheNeighbourGraph) {
    auto pca = body_json(client().Get("/api/map"));
    auto umap_r = client().Get("/api/map?layout=umap");
    ASSERT_TRUE(umap_r);
    ASSERT_EQ(umap_r->status, 200) << umap_r->body;
    auto umap = body_json(umap_r);
    EXPECT_EQ(pca["method"], "pca");
    EXPECT_EQ(umap["method"], "umap");
    ASSERT_EQ(umap["points"].size(), pca["points"].size());
    std::size_t moved = 0;
    for (std::size_t i = 0; i < umap["points"].size(); ++i) {
        const auto& u = umap["points"][i];
        EXPECT_EQ(u["id"], pca["points"][i]["id"]);
        EXPECT_LE(std::abs(u["x"].get<double>()), 1.0);
        EXPECT_LE(std::abs(u["y"].get<double>()), 1.0);
        moved += std::abs(u["x"].get<double>() - pca["points"][i]["x"].get<double>()) > 1e-4;
    }
    EXPECT_GT(moved, umap["points"].size() / 2);
    // Cached per layout: the same answer again, and PCA's is unchanged.
    EXPECT_EQ(client().Get("/api/map?layout=umap")->body, umap_r->body);
    EXPECT_EQ(body_json(client().Get("/api/map?layout=pca")), pca);
    expect_error(client().Get("/api/map?layout=tsne"), 400, "InvalidArgument");
}

TEST_F(HttpServerTest, MapHasOnePointPerItemColouredByFolder) {
    auto r = client().Get("/api/map");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    auto j = body_json(r);
    EXPECT_EQ(j["model"], "mfcc");
    EXPECT_EQ(j["method"], "pca");
    ASSERT_EQ(j["points"].size(), 10u);
    EXPECT_EQ(j["folders"], json::array({"noise", "swap", "tones"}));
    for (const auto& p : j["points"]) {
        EXPECT_LE(std::abs(p["x"].get<double>()), 1.0);
        EXPECT_LE(std::abs(p["y"].get<double>()), 1.0);
    }
    // Cached: the same answer again.
    auto again = client().Get("/api/map?model=mfcc");
    ASSERT_TRUE(again);
    EXPECT_EQ(again->body, r->body);
    expect_error(client().Get("/api/map?model=nope"), 404, "NotFound");
    // Subfolders for the colours; max_points thins the points evenly, "total" counts them all.
    EXPECT_EQ(j["dirs"], json::array({"noise", "swap", "tones"}));
    EXPECT_EQ(j["total"], 10);
    EXPECT_EQ(j["points"][0]["dir"], j["points"][0]["folder"]);
    auto few = client().Get("/api/map?max_points=4");
    ASSERT_TRUE(few);
    ASSERT_EQ(few->status, 200) << few->body;
    auto f = body_json(few);
    EXPECT_EQ(f["points"].size(), 4u);
    EXPECT_EQ(f["total"], 10);
    EXPECT_EQ(f["points"][0]["id"], j["points"][0]["id"]);
    EXPECT_EQ(f["points"][1]["id"], j["points"][2]["id"]);  // every 10/4-th point
    auto all = client().Get("/api/map?max_points=1000");
    ASSERT_TRUE(all);
    EXPECT_EQ(all->body, r->body);
    expect_error(client().Get("/api/map?max_points=0"), 400, "InvalidArgument");
    expect_error(client().Get("/api/map?max_points=x"), 400, "InvalidArgument");

    // format=columns: the same points as one array per field (folder/dir as indexes).
    auto c = body_json(client().Get("/api/map?format=columns"));
    ASSERT_TRUE(c.contains("columns")) << c.dump();
    EXPECT_FALSE(c.contains("points"));
    EXPECT_EQ(c["total"], 10);
    const auto& cols = c["columns"];
    ASSERT_EQ(cols["id"].size(), 10u);
    for (const char* field : {"x", "y", "duration_s", "folder", "dir", "name"})
        EXPECT_EQ(cols[field].size(), 10u) << field;
    for (std::size_t i = 0; i < 10; ++i) {
        const auto& p = j["points"][i];
        EXPECT_EQ(cols["id"][i], p["id"]);
        EXPECT_NEAR(cols["x"][i].get<double>(), p["x"].get<double>(), 1e-5);
        EXPECT_NEAR(cols["y"][i].get<double>(), p["y"].get<double>(), 1e-5);
        EXPECT_NEAR(cols["duration_s"][i].get<double>(), p["duration_s"].get<double>(), 0.005);
        EXPECT_EQ(c["folders"][cols["folder"][i].get<std::size_t>()], p["folder"]);
        EXPECT_EQ(c["dirs"][cols["dir"][i].get<std::size_t>()], p["dir"]);
        EXPECT_EQ(cols["name"][i], p["name"]);
    }
    auto c4 = body_json(client().Get("/api/map?format=columns&max_points=4"));
    ASSERT_EQ(c4["columns"]["id"].size(), 4u);
    EXPECT_EQ(c4["columns"]["id"][1], f["points"][1]["id"]);
    auto cn = body_json(client().Get("/api/map?format=columns&folder=noise"));
    EXPECT_EQ(cn["total"], 4);
    EXPECT_EQ(cn["columns"]["id"].size(), 4u);
    EXPECT_EQ(body_json(client().Get("/api/map?format=points"))["points"].size(), 10u);
    expect_error(client().Get("/api/map?format=csv"), 400, "InvalidArgument");

    // A client that takes gzip gets the gzip made once (the same JSON once decoded).
    auto gz = client().Get("/api/map", {{"Accept-Encoding", "gzip"}});
    ASSERT_TRUE(gz);
    EXPECT_EQ(gz->status, 200);
    EXPECT_EQ(gz->get_header_value("Content-Encoding"), "gzip");
    EXPECT_EQ(gz->body, r->body);  // decompressed by the client
    auto plain = client().Get("/api/map", {{"Accept-Encoding", "identity"}});
    ASSERT_TRUE(plain);
    EXPECT_EQ(plain->get_header_value("Content-Encoding"), "");
    EXPECT_EQ(plain->body, r->body);
}

// The map is computed when the server starts (its file appears without a request), and follows
// the catalog: one item removed and one added (the same count) give a new map with the new item.
// The neighbour layout is warmed too, but only after a request for it.
TEST(HttpServerMapTest, WarmedAtStartAndFollowsTheCatalog) {
    Library own;
    ASSERT_TRUE(own.setup_error.empty()) << own.setup_error;
    const fs::path file = map_file_path(own.dir / "lib.earshot.idx", "mfcc", "pca");
    for (int i = 0; i < 1000 && !fs::exists(file); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_TRUE(fs::exists(file)) << "the server computes the map at start";
    // The neighbour layout only once asked for; from then on the warmer keeps it current too.
    const fs::path umap_file = map_file_path(own.dir / "lib.earshot.idx", "mfcc", "umap");
    EXPECT_FALSE(fs::exists(umap_file));
    auto umap_before = json::parse(own.client().Get("/api/map?layout=umap")->body);
    ASSERT_EQ(umap_before["method"], "umap") << umap_before.dump();

    auto before = json::parse(own.client().Get("/api/map")->body);
    ASSERT_EQ(before["points"].size(), 10u) << before.dump();
    EXPECT_EQ(before["method"], "pca");
    const auto g0 = before["generation"].get<std::int64_t>();
    EXPECT_EQ(json::parse(own.client().Get("/api/map?layout=pca")->body)["generation"], g0);
    auto bad = own.client().Get("/api/map?layout=tsne");
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->status, 400);
    EXPECT_NE(bad->body.find("pca"), std::string::npos) << bad->body;

    const auto gone = own.id_of("noise_0");
    ASSERT_TRUE(own.engine->remove_paths({(own.lib / "noise" / "noise_0.wav").string()}));
    fs::remove(own.lib / "noise" / "noise_0.wav");
    testing::write_wav16(own.lib / "tones" / "sine_770.wav", testing::make_sine(770.0, 1.0, 16000),
                         16000);
    IndexOptions io;
    io.paths = {own.lib};
    io.model = "mfcc";
    auto report = own.engine->index(io);
    ASSERT_TRUE(report);
    ASSERT_EQ(report->counts.added, 1u);
    const auto added = own.id_of("sine_770");
    for (const char* url : {"/api/map", "/api/map?format=columns&max_points=10000"}) {
        auto after = json::parse(own.client().Get(url)->body);
        EXPECT_EQ(after["total"], 10) << url;
        EXPECT_GT(after["generation"].get<std::int64_t>(), g0) << url;
        std::vector<std::int64_t> ids;
        if (after.contains("columns"))
            ids = after["columns"]["id"].get<std::vector<std::int64_t>>();
        else
            for (const auto& p : after["points"]) ids.push_back(p["id"].get<std::int64_t>());
        EXPECT_EQ(std::count(ids.begin(), ids.end(), gone), 0) << url;
        EXPECT_EQ(std::count(ids.begin(), ids.end(), added), 1) << url;
    }
    // Without another layout=umap request, its file follows the catalog (after the warmer's
    // pause of one poll).
    std::int64_t umap_generation = 0;
    for (int i = 0; i < 1500 && umap_generation <= g0; ++i) {
        if (auto c = load_map_coords(umap_file))
            umap_generation = c->generation;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_GT(umap_generation, g0) << "the warmer recomputes the neighbour layout once used";
}

TEST_F(HttpServerTest, SearchLikeTheseUsesTheCentroidAndLeavesThemOut) {
    auto a = lib_->id_of("sine_220");
    auto b = lib_->id_of("sine_440");
    auto r =
        search({{"ids", std::to_string(a) + "," + std::to_string(b), "", ""}, {"k", "3", "", ""}});
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    auto j = body_json(r);
    EXPECT_EQ(j["query"], "2 items");
    ASSERT_EQ(j["results"].size(), 3u);
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_NE(j["results"][i]["id"], a);
        EXPECT_NE(j["results"][i]["id"], b);
        EXPECT_EQ(j["results"][i]["rank"], static_cast<int>(i + 1));
    }
    // One id: the same as searching by that id.
    auto one = search({{"ids", std::to_string(a), "", ""}, {"k", "3", "", ""}});
    auto by_id = search({{"id", std::to_string(a), "", ""}, {"k", "3", "", ""}});
    ASSERT_TRUE(one && by_id);
    ASSERT_EQ(one->status, 200) << one->body;
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(body_json(one)["results"][i]["id"], body_json(by_id)["results"][i]["id"]);
    }
    expect_error(search({{"ids", "1,x", "", ""}}), 400, "InvalidArgument");
    expect_error(search({{"ids", "1,,2", "", ""}}), 400, "InvalidArgument");
    expect_error(search({{"ids", "99999", "", ""}}), 404, "NotFound");
    expect_error(search({{"ids", std::to_string(a), "", ""}, {"id", std::to_string(b), "", ""}}),
                 400, "InvalidArgument");
    expect_error(search({{"ids", std::to_string(a), "", ""}, {"by", "segments", "", ""}}), 400,
                 "InvalidArgument");
    std::string many;
    for (int i = 1; i <= 1001; ++i) many += (i > 1 ? "," : "") + std::to_string(i);
    expect_error(search({{"ids", many, "", ""}}), 400, "InvalidArgument");
}

TEST_F(HttpServerTest, ServesThePageAndJson404s) {
    auto r = client().Get("/");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Content-Type"), "text/html; charset=utf-8");
    EXPECT_NE(r->body.find("earshot"), std::string::npos);
    r = client().Get("/app.js");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
    r = client().Get("/favicon.ico");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Content-Type"), "image/x-icon");
    expect_error(client().Get("/nothing-here.html"), 404, "NotFound");
    expect_error(client().Get("/api/nothing"), 404, "NotFound");
    expect_error(client().Delete("/api/items/1"), 404);
}

// The page carries its boot data (what /api/stats and /api/models answer), so its first search
// or map does not wait for those two requests (docs/performance.md "Page load").
TEST_F(HttpServerTest, PageCarriesTheBootDataOfStatsAndModels) {
    auto page = client().Get("/");
    ASSERT_TRUE(page);
    ASSERT_EQ(page->status, 200);
    const std::string open = R"(<script id="earshot-boot" type="application/json">)";
    const auto at = page->body.find(open);
    ASSERT_NE(at, std::string::npos);
    const auto end = page->body.find("</script>", at);
    ASSERT_NE(end, std::string::npos);
    const std::string text = page->body.substr(at + open.size(), end - at - open.size());
    ASSERT_FALSE(text.empty());
    const json boot = json::parse(text);
    auto stats = client().Get("/api/stats");
    auto models = client().Get("/api/models");
    ASSERT_TRUE(stats && models);
    EXPECT_EQ(boot["stats"], body_json(stats));
    EXPECT_EQ(boot["models"], body_json(models));
    EXPECT_EQ(boot["stats"]["items"], 10);
    EXPECT_EQ(boot["models"]["default"], "mfcc");
    // /index.html is the same page.
    auto same = client().Get("/index.html");
    ASSERT_TRUE(same);
    EXPECT_NE(same->body.find(open + "{"), std::string::npos);
}

// The page's files have an entity tag; a revalidation with it is answered 304 without a body,
// and the gzip (made once) is the file itself once inflated.
TEST_F(HttpServerTest, PageFilesAnswer304ToTheirETag) {
    for (const std::string path : {"/app.js", "/style.css", "/"}) {
        auto r = client().Get(path, {{"Accept-Encoding", "identity"}});
        ASSERT_TRUE(r) << path;
        ASSERT_EQ(r->status, 200) << path;
        const std::string etag = r->get_header_value("ETag");
        EXPECT_EQ(etag.rfind("W/\"", 0), 0u) << path << ": " << etag;
        EXPECT_EQ(r->get_header_value("Cache-Control"), "no-cache") << path;
        auto again = client().Get(path, {{"If-None-Match", etag}});
        ASSERT_TRUE(again) << path;
        EXPECT_EQ(again->status, 304) << path;
        EXPECT_TRUE(again->body.empty()) << path;
        EXPECT_EQ(again->get_header_value("ETag"), etag) << path;
        auto listed = client().Get(path, {{"If-None-Match", "W/\"0000000000000000\", " + etag}});
        ASSERT_TRUE(listed) << path;
        EXPECT_EQ(listed->status, 304) << path;
        auto other = client().Get(path, {{"If-None-Match", "W/\"0000000000000000\""}});
        ASSERT_TRUE(other) << path;
        EXPECT_EQ(other->status, 200) << path;
        EXPECT_EQ(other->body, r->body) << path;
        // gzip: the client inflates it; the same bytes as the plain answer.
        auto gz = client().Get(path, {{"Accept-Encoding", "gzip"}});
        ASSERT_TRUE(gz) << path;
        EXPECT_EQ(gz->get_header_value("Content-Encoding"), "gzip") << path;
        EXPECT_EQ(gz->body, r->body) << path;
        EXPECT_EQ(gz->get_header_value("ETag"), etag) << path;
    }
}

TEST(WebAssetsTest, ETagsAndBootData) {
    const std::string a = web::etag_for("abc");
    EXPECT_EQ(a.size(), 2u + 1u + 16u + 1u);
    EXPECT_NE(a, web::etag_for("abd"));
    EXPECT_EQ(a, web::etag_for("abc"));
    EXPECT_TRUE(web::etag_matches(a, a));
    EXPECT_TRUE(web::etag_matches(a.substr(2), a));  // the strong form, weak comparison
    EXPECT_TRUE(web::etag_matches("*", a));
    EXPECT_TRUE(web::etag_matches("\"x\" ,  " + a + " ", a));
    EXPECT_FALSE(web::etag_matches("", a));
    EXPECT_FALSE(web::etag_matches(web::etag_for("abd"), a));
    EXPECT_FALSE(web::etag_matches("W/", a));
    // The JSON cannot close the script element; the page is unchanged without the element.
    const std::string html = "<head>" + std::string(web::kBootElement) + "</head>";
    const std::string out = web::with_boot_json(html, R"({"n":"</script><b>"})");
    EXPECT_EQ(out,
              "<head><script id=\"earshot-boot\" type=\"application/json\">"
              "{\"n\":\"\\u003c/script>\\u003cb>\"}</script></head>");
    EXPECT_EQ(json::parse(out.substr(out.find('{'), out.rfind('}') - out.find('{') + 1))["n"],
              "</script><b>");
    EXPECT_EQ(web::with_boot_json("<p>no element</p>", "{}"), "<p>no element</p>");
}

// A browser that accepts brotli gets gzip: httplib's brotli (quality 11) took 0.3 s per app.js
// and 54 s for a 50k-point map.
TEST_F(HttpServerTest, AnswersGzipToClientsThatAcceptBrotli) {
    auto r = client().Get("/app.js", {{"Accept-Encoding", "br, gzip"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Content-Encoding"), "gzip");
    EXPECT_NE(r->body.find("function"), std::string::npos);  // decompressed by the client
    r = client().Get("/app.js", {{"Accept-Encoding", "br"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Content-Encoding"), "");
}

// Raw garbage on the socket gets an error answer (or a closed connection); the server lives on.
TEST_F(HttpServerTest, GarbageRequestsDoNotHurtTheServer) {
    const std::string requests[] = {
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n",
        "GET /" + std::string(20000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
        "boundary=zz\r\nContent-Length: 20\r\n\r\n--zz\r\nbroken stuff",
        "POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "GET /api/items/1/audio HTTP/1.1\r\nHost: x\r\nRange: bytes=9-1,zz\r\n\r\n",
    };
    for (const auto& raw : requests) {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        ASSERT_GE(fd, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<std::uint16_t>(lib_->server->port()));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        (void)!::write(fd, raw.data(), raw.size());
        ::shutdown(fd, SHUT_WR);
        char buf[512];
        while (::read(fd, buf, sizeof buf) > 0) {
        }
        ::close(fd);
    }
    auto h = client().Get("/health");
    ASSERT_TRUE(h);
    EXPECT_EQ(h->status, 200);
}

// Many HTTP searches (by id and by upload) while another thread indexes new files into the same
// engine: every search answers 200 with well-formed results, and the new items appear after.
TEST(HttpServerConcurrencyTest, SearchesStayCorrectWhileIndexing) {
    Library lib(8 << 20);
    ASSERT_TRUE(lib.setup_error.empty()) << lib.setup_error;
    fs::create_directories(lib.dir / "more");
    for (int i = 0; i < 12; ++i) {
        testing::write_wav16(lib.dir / "more" / ("tone_" + std::to_string(i) + ".wav"),
                             testing::make_sine(300.0 + 37.0 * i, 1.0, 16000), 16000);
    }
    const auto upload = read_bytes(lib.lib / "tones" / "sine_330.wav");
    const auto query_id = std::to_string(lib.id_of("sine_440"));
    std::atomic<bool> indexing_done{false};
    std::atomic<int> ok{0};
    std::atomic<int> bad{0};
    std::string first_bad;
    std::mutex bad_mu;

    std::thread indexer([&] {
        IndexOptions io;
        io.paths = {lib.dir / "more"};
        io.model = "mfcc";
        io.batch_size = 2;  // many small commits, each invalidating the search cache
        auto report = lib.engine->index(io);
        EXPECT_TRUE(report) << report.error().to_string();
        if (report) {
            EXPECT_EQ(report->counts.added, 12u);
        }
        indexing_done = true;
    });
    std::vector<std::thread> clients;
    for (int t = 0; t < 6; ++t) {
        clients.emplace_back([&, t] {
            auto c = lib.client();
            for (int i = 0; i < 8 || !indexing_done; ++i) {
                if (i > 200)
                    break;
                httplib::MultipartFormDataItems items;
                if ((t + i) % 3 == 0)
                    items = {{"file", upload, "q.wav", "audio/wav"}, {"k", "5", "", ""}};
                else
                    items = {{"id", query_id, "", ""}, {"k", "5", "", ""}};
                auto r = c.Post("/api/search", items);
                auto j = r ? json::parse(r->body, nullptr, false) : json();
                bool good =
                    r && r->status == 200 && j.contains("results") && j["results"].size() == 5u;
                if (good) {
                    int rank = 1;
                    for (const auto& res : j["results"]) {
                        good = good && res["id"].get<std::int64_t>() > 0 && res["rank"] == rank++;
                    }
                }
                if (good) {
                    ++ok;
                } else {
                    ++bad;
                    std::lock_guard lock(bad_mu);
                    if (first_bad.empty())
                        first_bad = r ? std::to_string(r->status) + " " + r->body : "no response";
                }
            }
        });
    }
    indexer.join();
    for (auto& c : clients) c.join();
    EXPECT_EQ(bad.load(), 0) << first_bad;
    EXPECT_GE(ok.load(), 48);
    auto h = lib.client().Get("/health");
    ASSERT_TRUE(h);
    EXPECT_EQ(json::parse(h->body)["items"], 22);
}

// `serve --root DIR`: a catalog indexed with --root holds library-relative keys; a server on
// another machine (here: another folder holding the same files, the original one gone) plays,
// downloads and draws them from under its own root. Without a root they answer 404.
TEST(HttpServerRootTest, RelativeKeysResolveUnderTheServersOwnRoot) {
    testing::TempDir dir;
    const fs::path lib = dir / "indexer" / "lib";
    fs::create_directories(lib / "tones");
    testing::write_wav16(lib / "tones" / "a.wav", testing::make_sine(440.0, 1.0, 16000), 16000);
    testing::write_wav16(lib / "b.wav", testing::make_noise(1.0, 16000, 0.1f, 7), 16000);
    EngineOptions eo;
    eo.db_path = dir / "lib.earshot";
    eo.threads = 1;
    eo.create_if_missing = true;
    auto engine = Engine::open(eo);
    ASSERT_TRUE(engine) << engine.error().to_string();
    IndexOptions io;
    io.paths = {lib};
    io.root = lib;
    io.model = "mfcc";
    auto report = (*engine)->index(io);
    ASSERT_TRUE(report) << report.error().to_string();
    ASSERT_EQ(report->counts.added, 2);
    auto items = (*engine)->catalog().list_items(0, -1);
    ASSERT_TRUE(items);
    std::int64_t id_a = -1;
    for (const auto& it : *items) {
        EXPECT_TRUE(fs::path(it.path).is_relative()) << it.path;
        if (it.path == "tones/a.wav")
            id_a = it.id;
    }
    ASSERT_GE(id_a, 0);
    // The "replica machine": the same files (same size and mtime) under another root.
    const fs::path mirror = dir / "replica" / "samples";
    fs::create_directories(mirror.parent_path());
    fs::copy(lib, mirror, fs::copy_options::recursive);
    for (const char* rel : {"tones/a.wav", "b.wav"})
        fs::last_write_time(mirror / rel, fs::last_write_time(lib / rel));
    const std::string bytes = read_bytes(lib / "tones" / "a.wav");
    fs::remove_all(dir / "indexer");

    auto serve = [&](const fs::path& root, auto&& check) {
        ServerOptions so;
        so.port = 0;
        so.library_root = root;
        so.models_dir = testing::models_dir();
        auto s = HttpServer::create(**engine, so);
        ASSERT_TRUE(s) << s.error().to_string();
        std::thread runner([&] { (void)(*s)->run(); });
        for (int i = 0; i < 500 && !(*s)->is_running(); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        httplib::Client c("127.0.0.1", (*s)->port());
        c.set_read_timeout(60, 0);
        check(c);
        (*s)->stop();
        runner.join();
    };
    const std::string base = "/api/items/" + std::to_string(id_a);
    serve(mirror, [&](httplib::Client& c) {
        auto r = c.Get(base + "/audio");
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200) << r->body;
        EXPECT_EQ(r->body, bytes);
        r = c.Get(base + "/download");
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200) << r->body;
        EXPECT_EQ(r->body, bytes);
        r = c.Get(base + "/waveform?points=50");
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200) << r->body;
        // The zip of several items reads them from under the root too (stored, so the file's
        // bytes appear in it as they are).
        r = c.Get("/api/zip?ids=" + std::to_string(id_a));
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200) << r->body;
        EXPECT_NE(r->body.find(bytes), std::string::npos);
    });
    serve(fs::path(), [&](httplib::Client& c) {
        auto r = c.Get(base + "/audio");
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 404) << r->body;
        EXPECT_NE(r->body.find("--root"), std::string::npos) << r->body;
        r = c.Get("/api/zip?ids=" + std::to_string(id_a));
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 404) << r->body;
    });
    // A root where the file is missing: 404, never a file from elsewhere.
    serve(dir.path(), [&](httplib::Client& c) {
        auto r = c.Get(base + "/audio");
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 404) << r->body;
    });
}

}  // namespace
}  // namespace earshot
