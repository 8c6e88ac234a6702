// Issue #12, paths that are not UTF-8 (legal Linux file names): `list --json` and
// `export --format jsonl` aborted (SIGABRT, nlohmann::json type_error 316). Paths are stored as
// bytes; JSON carries them as a readable "path" plus "path_b64" with the exact bytes
// (docs/formats.md); export -> import restores them, and the HTTP API lists and serves the file.
#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/utf8.h"
#include "engine/engine.h"
#include "engine/importer.h"
#include "engine/json_shapes.h"
#include "server/http_server.h"
#include "test_support.h"

namespace earshot {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

struct RunResult {
    int exit_code = -1;
    std::string out;
};

RunResult run_cli(const std::string& args) {
    std::string cmd = std::string(EARSHOT_BIN) + " " + args + " 2>/dev/null";
    RunResult r;
    FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr)
        return r;
    std::array<char, 4096> buf{};
    std::size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
    const int status = pclose(p);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

std::string q(const fs::path& p) {
    return "'" + p.string() + "'";
}

std::string read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Strict parse: throws (and so fails the test) on invalid UTF-8 or malformed JSON.
json parse_strict(const std::string& text) {
    return json::parse(text);
}

// "caf\xE9.wav" (Latin-1 é) and a lone continuation byte in a folder name.
const std::string kLatin1Name = "caf\xE9.wav";
const std::string kBadFolder = "dir\x80x";

struct Library {
    testing::TempDir dir;
    fs::path lib;
    fs::path db;
    fs::path bad_file;
    explicit Library() {
        lib = dir / "lib";
        fs::create_directories(lib / kBadFolder);
        bad_file = lib / kBadFolder / kLatin1Name;
        testing::write_wav16(bad_file, testing::make_sine(440.0, 0.5, 16000), 16000);
        testing::write_wav16(lib / "plain.wav", testing::make_sine(660.0, 0.5, 16000), 16000);
        db = dir / "lib.earshot";
    }
};

TEST(Utf8Test, ValidityLossyFormAndBase64RoundTrip) {
    EXPECT_TRUE(is_valid_utf8("plain ascii"));
    EXPECT_TRUE(is_valid_utf8("caf\xC3\xA9 \xF0\x9F\x8E\xB5"));
    EXPECT_FALSE(is_valid_utf8(kLatin1Name));
    EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong '/'
    EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // surrogate
    EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // > U+10FFFF
    EXPECT_FALSE(is_valid_utf8("\xE2\x82"));          // truncated
    EXPECT_EQ(utf8_lossy(kLatin1Name), "caf\xEF\xBF\xBD.wav");
    EXPECT_TRUE(is_valid_utf8(utf8_lossy("\xFF\xFE\x80 ok \xE2\x82")));
    for (std::string s : {std::string(), std::string("f"), std::string("fo"), std::string("foo"),
                          std::string("foob"), kLatin1Name, std::string("\0\xFF\x01", 3)}) {
        auto b = base64_encode(s);
        auto back = base64_decode(b);
        ASSERT_TRUE(back) << b;
        EXPECT_EQ(*back, s);
    }
    EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
    EXPECT_FALSE(base64_decode("Zm9"));
    EXPECT_FALSE(base64_decode("Zm=v"));
    EXPECT_FALSE(base64_decode("Z!9v"));
}

TEST(Issue12PathsTest, JsonOfItemsWithNonUtf8PathsIsValidAndReversible) {
    ItemRecord it;
    it.id = 7;
    it.path = "/music/" + kBadFolder + "/" + kLatin1Name;
    it.name = kLatin1Name;
    it.title = "ok title";
    auto j = item_json(it, kBadFolder);
    const std::string text = j.dump();  // strict: throws on invalid UTF-8
    auto back = parse_strict(text);
    ASSERT_TRUE(back.contains("path_b64"));
    EXPECT_EQ(base64_decode(back["path_b64"].get<std::string>()).value_or(""), it.path);
    EXPECT_EQ(base64_decode(back["name_b64"].get<std::string>()).value_or(""), it.name);
    EXPECT_EQ(base64_decode(back["folder_b64"].get<std::string>()).value_or(""), kBadFolder);
    EXPECT_FALSE(back.contains("title_b64"));  // valid UTF-8 stays as it is, alone
    EXPECT_EQ(back["title"], "ok title");
}

TEST(Issue12PathsTest, CliListExportImportRoundTripKeepsTheBytes) {
    Library l;
    auto idx = run_cli("index " + q(l.lib) + " --db " + q(l.db) + " --model mfcc --json -q");
    ASSERT_EQ(idx.exit_code, 0) << idx.out;
    EXPECT_EQ(parse_strict(idx.out)["added"], 2);

    auto list = run_cli("list --db " + q(l.db) + " --json");
    ASSERT_EQ(list.exit_code, 0) << "list --json aborted";
    auto lj = parse_strict(list.out);
    ASSERT_EQ(lj["items"].size(), 2u);
    int with_b64 = 0;
    for (const auto& item : lj["items"]) {
        if (!item.contains("path_b64"))
            continue;
        ++with_b64;
        EXPECT_EQ(base64_decode(item["path_b64"].get<std::string>()).value_or(""),
                  fs::absolute(l.bad_file).lexically_normal().string());
    }
    EXPECT_EQ(with_b64, 1);

    const fs::path out = l.dir / "vectors.jsonl";
    auto exp = run_cli("export --db " + q(l.db) + " --model mfcc --format jsonl --out " + q(out));
    ASSERT_EQ(exp.exit_code, 0) << "export --format jsonl aborted";
    std::istringstream lines(read_bytes(out));
    std::string line;
    int n_lines = 0;
    while (std::getline(lines, line)) {
        ++n_lines;
        EXPECT_NO_THROW(parse_strict(line)) << line;
    }
    EXPECT_EQ(n_lines, 2);

    // Import the export into a fresh catalog: the exact bytes come back.
    auto cat = Catalog::open(l.dir / "copy.earshot");
    ASSERT_TRUE(cat);
    ImportOptions io;
    io.file = out;
    io.space = "copy";
    auto imp = import_embeddings(**cat, io);
    ASSERT_TRUE(imp) << imp.error().to_string();
    EXPECT_EQ(imp->added, 2u);
    auto found = (*cat)->find_by_path(fs::absolute(l.bad_file).lexically_normal().string());
    ASSERT_TRUE(found);
    ASSERT_TRUE(found->has_value()) << "the non-UTF-8 path did not survive export -> import";
    EXPECT_EQ((*found)->name, kLatin1Name);
}

TEST(Issue12PathsTest, HttpListsAndServesAFileWithANonUtf8Name) {
    Library l;
    EngineOptions eo;
    eo.db_path = l.db;
    eo.threads = 2;
    eo.create_if_missing = true;
    auto engine = Engine::open(eo);
    ASSERT_TRUE(engine);
    IndexOptions io;
    io.paths = {l.lib};
    io.model = "mfcc";
    auto rep = (*engine)->index(io);
    ASSERT_TRUE(rep && rep->counts.added == 2);

    ServerOptions so;
    so.port = 0;
    so.models_dir = testing::models_dir();
    auto server = HttpServer::create(**engine, so);
    ASSERT_TRUE(server) << server.error().to_string();
    std::thread runner([&] { (void)(*server)->run(); });
    for (int i = 0; i < 500 && !(*server)->is_running(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    httplib::Client client("127.0.0.1", (*server)->port());
    client.set_read_timeout(30, 0);

    auto r = client.Get("/api/items?limit=10");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    auto j = parse_strict(r->body);
    std::int64_t id = -1;
    for (const auto& item : j["items"]) {
        if (item.contains("path_b64") &&
            base64_decode(item["path_b64"].get<std::string>()).value_or("") ==
                fs::absolute(l.bad_file).lexically_normal().string()) {
            id = item["id"].get<std::int64_t>();
            EXPECT_EQ(base64_decode(item["name_b64"].get<std::string>()).value_or(""), kLatin1Name);
        }
    }
    ASSERT_GT(id, 0) << r->body;

    auto audio = client.Get("/api/items/" + std::to_string(id) + "/audio");
    ASSERT_TRUE(audio);
    EXPECT_EQ(audio->status, 200);
    EXPECT_EQ(audio->body, read_bytes(l.bad_file));

    auto search = client.Post("/api/search", "{\"id\": " + std::to_string(id) + ", \"k\": 3}",
                              "application/json");
    ASSERT_TRUE(search);
    EXPECT_EQ(search->status, 200) << search->body;
    EXPECT_NO_THROW(parse_strict(search->body));

    auto map = client.Get("/api/map?model=mfcc");
    ASSERT_TRUE(map);
    EXPECT_EQ(map->status, 200) << map->body;
    auto mj = parse_strict(map->body);
    bool folder_b64 = false;
    for (const auto& p : mj["points"]) folder_b64 = folder_b64 || p.contains("folder_b64");
    EXPECT_TRUE(folder_b64) << map->body;

    (*server)->stop();
    runner.join();
}

}  // namespace
}  // namespace earshot
