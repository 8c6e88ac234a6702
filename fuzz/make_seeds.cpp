// Writes the seed corpora of the fuzz targets (fuzz/run_smoke.sh runs it first):
//   make_seeds OUT_DIR  ->  OUT_DIR/<target>/seed_*  (a few KiB each, generated, deterministic)
// The seeds are the tests' kinds of fixtures: tiny WAVs (16-bit, float, NaN, a 1 Hz header),
// a safetensors file, CSV/JSONL/AudioSet/npy imports, index files of each kind, a small
// catalog, and HTTP requests (multipart, urlencoded, JSON, Range).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "core/file_util.h"
#include "core/safetensors.h"
#include "index/index_file.h"
#include "index/vector_index.h"

namespace fs = std::filesystem;
using namespace earshot;

namespace {

fs::path g_out;
int g_failures = 0;

void put(const std::string& target, const std::string& name, const std::string& bytes) {
    fs::create_directories(g_out / target);
    std::ofstream out(g_out / target / name, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string file_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void le(std::string& s, std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
}

// A WAV with `format` 1 (PCM 16-bit) or 3 (IEEE float 32-bit); samples interleaved.
std::string wav(int format, int rate, int channels, const std::vector<float>& samples) {
    const int bits = format == 1 ? 16 : 32;
    std::string data;
    for (float x : samples) {
        if (format == 1) {
            le(data,
               static_cast<std::uint16_t>(static_cast<std::int16_t>(
                   std::lround(std::fmax(-1.0f, std::fmin(1.0f, x)) * 32767.0f))),
               2);
        } else {
            std::uint32_t u = 0;
            std::memcpy(&u, &x, 4);
            le(data, u, 4);
        }
    }
    std::string s = "RIFF";
    le(s, 36 + data.size(), 4);
    s += "WAVEfmt ";
    le(s, 16, 4);
    le(s, static_cast<std::uint64_t>(format), 2);
    le(s, static_cast<std::uint64_t>(channels), 2);
    le(s, static_cast<std::uint64_t>(rate), 4);
    le(s, static_cast<std::uint64_t>(rate * channels * bits / 8), 4);
    le(s, static_cast<std::uint64_t>(channels * bits / 8), 2);
    le(s, static_cast<std::uint64_t>(bits), 2);
    s += "data";
    le(s, data.size(), 4);
    return s + data;
}

std::vector<float> sine(double hz, int rate, std::size_t n) {
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i)
        v[i] = static_cast<float>(0.5 * std::sin(2.0 * M_PI * hz * double(i) / rate));
    return v;
}

void audio_seeds() {
    put("fuzz_audio_decode", "seed_pcm16.wav", wav(1, 16000, 1, sine(440, 16000, 4000)));
    put("fuzz_audio_decode", "seed_float_stereo.wav", wav(3, 44100, 2, sine(300, 44100, 4410)));
    auto bad = sine(500, 22050, 2000);
    bad[10] = std::numeric_limits<float>::quiet_NaN();
    bad[20] = std::numeric_limits<float>::infinity();
    bad[30] = 1e30f;
    put("fuzz_audio_decode", "seed_float_nan.wav", wav(3, 22050, 1, bad));
    put("fuzz_audio_decode", "seed_1hz.wav", wav(1, 1, 1, sine(0.1, 1, 64)));
}

void safetensors_seeds() {
    SafeTensors st;
    st.tensors["w"] = Tensor{{2, 3}, {1, 2, 3, 4, 5, 6}};
    st.tensors["b"] = Tensor{{3}, {0.5f, -0.5f, 0.0f}};
    st.metadata["format"] = "pt";
    auto p = g_out / "tmp.safetensors";
    if (!save_safetensors(p, st)) {
        ++g_failures;
        return;
    }
    put("fuzz_safetensors", "seed_small.safetensors", file_bytes(p));
    fs::remove(p);
}

std::string npy(std::size_t rows, std::size_t cols) {
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                         std::to_string(rows) + ", " + std::to_string(cols) + "), }";
    while ((10 + header.size() + 1) % 64 != 0) header += ' ';
    header += '\n';
    std::string s = "\x93NUMPY";
    s += '\x01';
    s += '\x00';
    le(s, header.size(), 2);
    s += header;
    for (std::size_t i = 0; i < rows * cols; ++i) {
        float f = static_cast<float>(i) * 0.125f - 1.0f;
        std::uint32_t u = 0;
        std::memcpy(&u, &f, 4);
        le(s, u, 4);
    }
    return s;
}

void import_seeds() {
    put("fuzz_import", "seed_csv",
        std::string("\x00", 1) + "path,f0,f1,f2\na.wav,0.1,0.2,0.3\nb.wav,1,2,3\n");
    put("fuzz_import", "seed_jsonl",
        std::string("\x01") +
            "{\"path\":\"a.wav\",\"name\":\"a\",\"duration_s\":1.5,\"labels\":\"x\","
            "\"embedding\":[0.1,0.2,0.3]}\n{\"path\":\"b\\u00e9.wav\",\"path_b64\":\"Ytkud2F2\","
            "\"embedding\":[1,2,3]}\n");
    put("fuzz_import", "seed_audioset",
        std::string("\x05") +
            "{\"video_id\":\"abc\",\"start_time_seconds\":30,\"end_time_seconds\":32,"
            "\"labels\":[1,2],\"audio_embedding\":[[0,128,255,7],[1,2,3,4]]}\n");
    put("fuzz_import", "seed_npy", std::string("\x02") + npy(3, 4));
    put("fuzz_import", "seed_npy_meta",
        std::string("\x03") + npy(2, 3) + std::string("\xFF\x00\xFF", 3) +
            "{\"path\":\"x.wav\",\"name\":\"x\"}\n{\"path\":\"y.wav\"}\n");
    // fuzz_import_parse: the same inputs (its selector byte: 0 CSV, 1/5/6 JSONL with
    // --quantized no/auto/yes, 2 npy, 3 npy + metadata, 4 / 7 comma / tab tables, + 8 with
    // comments), plus a float64 npy,
    // a JSON array and CSV tables with quotes and comments.
    const fs::path from = g_out / "fuzz_import";
    for (const auto& e : fs::directory_iterator(from))
        put("fuzz_import_parse", e.path().filename().string(), file_bytes(e.path()));
    put("fuzz_import_parse", "seed_audioset_yes",
        std::string("\x06") + "{\"id\":\"q\",\"data\":[[0,1,2],[3,4,255],[9,9,9]],\"label\":7}\n");
    put("fuzz_import_parse", "seed_json_array",
        std::string("\x01") +
            " [{\"path\":\"a\",\"embedding\":[1e-3,2]},{\"id\":5,"
            "\"data\":[0.5,0.25],\"end_s\":3}]");
    std::string f8 = npy(2, 2);
    f8.replace(f8.find("<f4"), 3, "<f8");
    f8 += std::string(16, '\0');
    put("fuzz_import_parse", "seed_npy_f8", std::string("\x02") + f8);
    put("fuzz_import_parse", "seed_csv_table",
        std::string("\x04") +
            "\xEF\xBB\xBFquery,match\r\n\"a,\"\"b\"\"\",c\r\n\n  \n12\" vinyl,\"x\ny\"\r");
    put("fuzz_import_parse", "seed_tsv_comments",
        std::string("\x0F") + "# labels\nindex\tmid\tdisplay_name\n  # no\n0\t/m/09x0r\tSpeech\n");
}

void index_seeds() {
    const int dim = 8;
    const std::size_t n = 300;
    Matrix m(n, dim);
    std::vector<std::int64_t> ids(n);
    std::uint32_t state = 12345;
    for (std::size_t i = 0; i < n; ++i) {
        ids[i] = static_cast<std::int64_t>(i + 1);
        for (int j = 0; j < dim; ++j) {
            state = state * 1664525u + 1013904223u;
            m.data[i * dim + j] = static_cast<float>(state >> 8) / float(1 << 24) - 0.5f;
        }
    }
    for (const char* spec : {"flat", "HNSW8", "IVF4,PQ4"}) {
        auto index = make_index(spec, dim, Metric::kCosine);
        if (!index) {
            std::fprintf(stderr, "make_seeds: %s: %s\n", spec, index.error().message().c_str());
            ++g_failures;
            continue;
        }
        const std::size_t rows = std::string(spec) == "IVF4,PQ4" ? n : 40;
        Matrix part(rows, dim);
        std::copy(m.data.begin(), m.data.begin() + rows * dim, part.data.begin());
        if (!(*index)->add(std::span(ids.data(), rows), part)) {
            ++g_failures;
            continue;
        }
        IndexFileHeader h;
        h.space = "fuzz";
        h.catalog_generation = 3;
        h.catalog_max_id = static_cast<std::int64_t>(rows);
        auto p = g_out / "tmp.esix";
        if (!save_index_file(p, **index, h)) {
            ++g_failures;
            continue;
        }
        std::string name = spec;
        for (char& c : name) c = c == ',' ? '_' : c;
        put("fuzz_index_file", "seed_" + name + ".esix", file_bytes(p));
        fs::remove(p);
    }
}

void catalog_seeds() {
    auto p = g_out / "tmp.earshot";
    fs::remove(p);
    {
        auto cat = Catalog::open(p);
        if (!cat) {
            ++g_failures;
            return;
        }
        for (int i = 1; i <= 3; ++i) {
            ItemRecord it;
            it.path = "/lib/item_" + std::to_string(i) + ".wav";
            it.name = "item_" + std::to_string(i) + ".wav";
            it.duration_s = i;
            std::vector<float> v = {float(i), 0.5f, -0.25f, 1.0f};
            Matrix seg(2, 4);
            for (std::size_t k = 0; k < seg.data.size(); ++k) seg.data[k] = 0.1f * float(k);
            std::vector<SegmentRecord> times = {{0.0, 0.5}, {0.5, 1.0}};
            if (!(*cat)->put_item(it, "fuzz", v, seg, times))
                ++g_failures;
        }
    }
    // A whole small catalog (used as is), and patch lists for the built-in one: the header's
    // page size / page count, page 2's b-tree header, bytes deep in a leaf.
    put("fuzz_catalog_open", "seed_small.earshot", file_bytes(p));
    fs::remove(p);
    auto patch = [](std::uint32_t off, const std::string& bytes) {
        std::string s;
        le(s, off, 4);
        s += static_cast<char>(bytes.size());
        return s + bytes;
    };
    put("fuzz_catalog_open", "seed_patch_header", patch(16, std::string("\x10\x00", 2)));
    put("fuzz_catalog_open", "seed_patch_count", patch(28, std::string("\x00\x00\x00\x02", 4)));
    put("fuzz_catalog_open", "seed_patch_btree",
        patch(32768, std::string("\x0d\x00\x00\x00\x09", 5)) + patch(70000, "garbage!"));
}

void http_seeds() {
    const std::string boundary = "----earshotfuzz";
    std::string body = "--" + boundary +
                       "\r\nContent-Disposition: form-data; name=\"k\"\r\n\r\n5\r\n--" + boundary +
                       "\r\nContent-Disposition: form-data; name=\"metric\"\r\n\r\ncosine\r\n--" +
                       boundary +
                       "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"q.wav\"\r\n"
                       "Content-Type: audio/wav\r\n\r\nRIFFxxxxWAVE\r\n--" +
                       boundary + "--\r\n";
    put("fuzz_http_params", "seed_multipart",
        "POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=" +
            boundary + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    std::string form = "id=12&k=10&min_duration=0.5&max_duration=3&index=HNSW32&ef_search=64";
    put("fuzz_http_params", "seed_urlencoded",
        "POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Type: "
        "application/x-www-form-urlencoded\r\nContent-Length: " +
            std::to_string(form.size()) + "\r\n\r\n" + form);
    std::string json = "{\"id\": 3, \"k\": 7, \"metric\": \"euclidean\", \"nprobe\": 4}";
    put("fuzz_http_params", "seed_json",
        "POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: " +
            std::to_string(json.size()) + "\r\n\r\n" + json);
    put("fuzz_http_params", "seed_range",
        "GET /api/items/12/audio HTTP/1.1\r\nHost: x\r\nRange: bytes=0-99,200-\r\n\r\n");
    put("fuzz_http_params", "seed_query",
        "GET /api/items?offset=0&limit=20&q=gu%C3%AFtar HTTP/1.1\r\nHost: x\r\n\r\n");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: make_seeds OUT_DIR\n");
        return 2;
    }
    g_out = argv[1];
    fs::create_directories(g_out);
    audio_seeds();
    safetensors_seeds();
    import_seeds();
    index_seeds();
    catalog_seeds();
    http_seeds();
    if (g_failures > 0)
        std::fprintf(stderr, "make_seeds: %d seed(s) could not be made\n", g_failures);
    return g_failures > 0 ? 1 : 0;
}
