// The import parsers on bytes in memory (what fuzz_import_parse runs) against the file import
// (import_embeddings into a catalog): same records; malformed input names the source and line.
#include "engine/import_formats.h"

#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/memory_stream.h"
#include "core/npy.h"
#include "engine/importer.h"
#include "test_support.h"

namespace earshot {
namespace {

using testing::TempDir;

void write_bytes(const std::filesystem::path& p, const std::string& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << bytes;
}

struct Collected {
    std::vector<ImportRecord> records;
    Status status;
};

ImportRecordFn collect_into(std::vector<ImportRecord>& records) {
    return [&records](ImportRecord r) {
        records.push_back(std::move(r));
        return ok_status();
    };
}

// `bytes` parsed from memory as `format` ("csv", "jsonl", "npy" with optional `metadata`).
Collected parse_in_memory(const std::string& format,
                          const std::string& bytes,
                          const std::string& metadata = "") {
    Collected c;
    MemoryIstream in(bytes);
    if (format == "csv") {
        c.status = parse_import_csv(in, "mem", collect_into(c.records));
    } else if (format == "jsonl") {
        c.status = parse_import_jsonl(in, "mem", "auto", collect_into(c.records));
    } else {
        auto m = read_npy_matrix(in, bytes.size(), "mem");
        if (!m) {
            c.status = tl::unexpected(m.error());
            return c;
        }
        MemoryIstream meta(metadata);
        c.status = parse_import_npy(*m, "mem", "v", metadata.empty() ? nullptr : &meta, "mem.jsonl",
                                    collect_into(c.records));
    }
    return c;
}

std::string npy_file(std::size_t rows, std::size_t cols) {
    std::string bytes = npy_f32_header(rows, cols);
    for (std::size_t i = 0; i < rows * cols; ++i) {
        const float x = static_cast<float>(i) * 0.5f - 3.0f;
        bytes.append(reinterpret_cast<const char*>(&x), sizeof x);
    }
    return bytes;
}

// Every record parsed in memory is what import_embeddings stored from the same bytes in a file:
// path, name, labels, duration, vector and segments.
void expect_same_as_file_import(const std::string& file_name,
                                const std::string& bytes,
                                const std::string& metadata,
                                std::size_t expected_records) {
    SCOPED_TRACE(file_name);
    const std::string format = file_name.ends_with(".npy")   ? "npy"
                               : file_name.ends_with(".csv") ? "csv"
                                                             : "jsonl";
    const Collected mem = parse_in_memory(format, bytes, metadata);
    ASSERT_TRUE(mem.status) << mem.status.error().to_string();
    ASSERT_EQ(mem.records.size(), expected_records);

    TempDir dir;
    write_bytes(dir / file_name, bytes);
    if (!metadata.empty())
        write_bytes(dir / (file_name.substr(0, file_name.rfind('.')) + ".jsonl"), metadata);
    auto cat = Catalog::open(dir / "lib.earshot");
    ASSERT_TRUE(cat);
    ImportOptions o;
    o.file = dir / file_name;
    o.space = "s";
    auto report = import_embeddings(**cat, o);
    ASSERT_TRUE(report) << report.error().to_string();
    EXPECT_EQ(report->rows, mem.records.size());
    bool dequantized = false;
    std::size_t segments = 0;
    for (const auto& rec : mem.records) {
        dequantized = dequantized || rec.dequantized;
        segments += rec.segments.n_rows;
    }
    EXPECT_EQ(report->dequantized, dequantized);
    EXPECT_EQ(report->segments, segments);
    for (const auto& rec : mem.records) {
        SCOPED_TRACE(rec.item.path);
        auto item = (*cat)->find_by_path(rec.item.path);
        ASSERT_TRUE(item && item->has_value());
        EXPECT_EQ((*item)->name, rec.item.name.empty() ? rec.item.path : rec.item.name);
        EXPECT_EQ((*item)->labels, rec.item.labels);
        EXPECT_DOUBLE_EQ((*item)->duration_s, rec.item.duration_s);
        auto v = (*cat)->get_embedding((*item)->id, "s");
        ASSERT_TRUE(v);
        EXPECT_EQ(*v, rec.vector);
        auto seg = (*cat)->get_segments((*item)->id, "s");
        ASSERT_TRUE(seg);
        EXPECT_EQ(seg->first.n_rows, rec.segments.n_rows);
        EXPECT_EQ(seg->first.data, rec.segments.data);
        ASSERT_EQ(seg->second.size(), rec.times.size());
        for (std::size_t i = 0; i < rec.times.size(); ++i) {
            EXPECT_DOUBLE_EQ(seg->second[i].start_s, rec.times[i].start_s);
            EXPECT_DOUBLE_EQ(seg->second[i].end_s, rec.times[i].end_s);
        }
    }
}

TEST(ImportFormatsTest, FromMemoryGivesTheRecordsTheFileImportStores) {
    expect_same_as_file_import("f.csv",
                               "\xEF\xBB\xBFid,f0,f1\r\n"
                               "a.wav,0.5,-1.25\r\n"
                               "\"b,\"\"c\"\".wav\",1e-3, +2\r\n"
                               "d.wav,7,8",
                               "", 3);
    nlohmann::json audioset = {{"id", "--PJHxphWEs"},
                               {"labels", {"/m/09x0r", 7}},
                               {"start_time", 30.0},
                               {"end_time", 33.0},
                               {"data", {{0, 255, 128}, {255, 255, 0}, {1, 2, 3}}}};
    nlohmann::json flat = {{"ytid", "q"}, {"label", 3}, {"data", {0.5, 1.5, 2.5}}};
    nlohmann::json exported = {{"path", "/x/\xC3\xA9.wav"},
                               {"name", "e"},
                               {"duration_s", 1.5},
                               {"labels", "a,b"},
                               {"embedding", {0.25, -1e-3, 4}}};
    expect_same_as_file_import(
        "r.jsonl", exported.dump() + "\n\n  \r\n" + audioset.dump() + "\n" + flat.dump(), "", 3);
    expect_same_as_file_import("a.json", " \n[" + exported.dump() + "," + audioset.dump() + "]", "",
                               2);
    expect_same_as_file_import("v.npy", npy_file(3, 4), "", 3);
    expect_same_as_file_import(
        "v.npy", npy_file(3, 4),
        "{\"path\":\"p0\",\"labels\":[\"x\",\"y\"]}\n{\"name\":\"no path\"}\n"
        "{\"path_b64\":\"/w==\",\"duration_s\":2}\n",
        3);
}

TEST(ImportFormatsTest, MalformedInputNamesTheSourceAndLine) {
    struct Case {
        std::string format, bytes, metadata, message;
        std::size_t records_before;
    };
    const std::string two = npy_file(2, 2);
    for (const auto& c : std::vector<Case>{
             {"csv", "a,1,2\nb,3,4\nc,5\n", "",
              "import 'mem' line 3: 1 features, earlier rows have 2", 2},
             {"csv", "a,1,2\nb,1,x\n", "", "import 'mem' line 2: a feature value is not", 1},
             {"csv", "a,1,2\n\"b,1,2\n", "", "import 'mem'", 1},
             {"jsonl", "{\"path\":\"a\",\"embedding\":[1]}\n{\"path\":\"b\",\"embe", "",
              "import 'mem' line 2: not valid JSON", 1},
             {"jsonl", "[{\"path\":\"a\",\"embedding\":[1]},{\"path\":", "",
              "import 'mem' line 1: not valid JSON", 0},
             {"jsonl", "{\"path\":\"a\",\"data\":[[1,2],[3]]}\n", "",
              "import 'mem' line 1: per-second vectors differ in length", 0},
             {"jsonl", "{\"embedding\":[1]}\n", "", "import 'mem' line 1: no \"path\" or \"id\"",
              0},
             {"npy", two.substr(0, two.size() - 1), "",
              "'mem' is not a supported .npy file: truncated", 0},
             {"npy", two, "{\"path\":\"p\"}\n",
              "metadata 'mem.jsonl' has fewer lines (1) than the matrix has rows (2)", 1},
             {"npy", two, "{\"path\":\"p\"}\n[1]\n",
              "metadata 'mem.jsonl' line 2: not a JSON object", 1},
         }) {
        SCOPED_TRACE(c.format + ": " + c.bytes);
        const Collected r = parse_in_memory(c.format, c.bytes, c.metadata);
        ASSERT_FALSE(r.status);
        EXPECT_EQ(r.status.error().code(), ErrorCode::kInvalidArgument);
        EXPECT_NE(r.status.error().message().find(c.message), std::string::npos)
            << r.status.error().message();
        EXPECT_EQ(r.records.size(), c.records_before);
    }
}

// An error from put() stops the parse and comes back unchanged.
TEST(ImportFormatsTest, AnErrorFromPutStopsTheParse) {
    const std::string csv = "a,1\nb,2\nc,3\n";
    std::size_t calls = 0;
    MemoryIstream in(csv);
    auto st = parse_import_csv(in, "mem", [&calls](ImportRecord) -> Status {
        if (++calls == 2)
            return make_error(ErrorCode::kIoError, "disk full");
        return ok_status();
    });
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code(), ErrorCode::kIoError);
    EXPECT_EQ(st.error().message(), "disk full");
    EXPECT_EQ(calls, 2u);
}

}  // namespace
}  // namespace earshot
