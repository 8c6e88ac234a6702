// libFuzzer: the parsers of the import formats from memory, with no file and no catalog (the
// cheap companion of fuzz_import, which runs import_embeddings end to end): parse_import_csv,
// parse_import_jsonl (earshot export and AudioSet records), read_npy_matrix + parse_import_npy
// (with and without its .jsonl metadata) and the CSV table reader (core/csv.h) with other
// options. The first input byte picks the parser, the rest is the input. Every record is checked
// against what import_formats.h promises.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>

#include "core/csv.h"
#include "core/memory_stream.h"
#include "core/npy.h"
#include "engine/import_formats.h"
#include "fuzz_util.h"

namespace {

using earshot::ImportRecord;
using earshot::Status;

void check(bool ok) {
    if (!ok)
        std::abort();
}

// A put() that checks each record and counts them.
struct Checker {
    std::size_t records = 0;
    std::size_t dim = 0;
    bool same_dim = false;  // every record must have the first one's dim (CSV, npy)

    Status operator()(ImportRecord r) {
        check(!r.item.path.empty());
        check(!r.vector.empty());
        for (float x : r.vector) check(std::isfinite(x));
        check(r.segments.n_rows == r.times.size());
        check(r.segments.data.size() == r.segments.n_rows * r.segments.n_cols);
        if (r.segments.n_rows > 0)
            check(r.segments.n_rows > 1 && r.segments.n_cols == r.vector.size());
        if (records == 0)
            dim = r.vector.size();
        else if (same_dim)
            check(r.vector.size() == dim);
        ++records;
        return earshot::ok_status();
    }
};

// npy bytes, then optional metadata after the first 0xFF 0x00 0xFF marker.
void npy(std::string_view in, bool with_metadata) {
    std::string_view meta;
    if (with_metadata) {
        const auto cut = in.find(std::string_view("\xFF\x00\xFF", 3));
        if (cut != std::string_view::npos) {
            meta = in.substr(cut + 3);
            in = in.substr(0, cut);
        }
    }
    earshot::MemoryIstream s(in);
    auto m = earshot::read_npy_matrix(s, in.size(), "fuzz.npy");
    if (!m)
        return;
    check(m->rows > 0 && m->cols > 0 && m->data.size() == m->rows * m->cols);
    check(m->data.size() * 4 <= in.size());
    Checker c;
    c.same_dim = true;
    earshot::MemoryIstream ms(meta);
    auto st = earshot::parse_import_npy(*m, "fuzz.npy", "fuzz", with_metadata ? &ms : nullptr,
                                        "fuzz.jsonl", std::ref(c));
    if (st)
        check(c.records == m->rows && c.dim == m->cols);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    earshot::fuzz::silence_logs();
    if (size < 1)
        return 0;
    const std::uint8_t selector = data[0];
    const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (selector % 8) {
        case 0: {
            earshot::MemoryIstream s(in);
            Checker c;
            c.same_dim = true;
            (void)earshot::parse_import_csv(s, "fuzz.csv", std::ref(c));
            break;
        }
        case 1:
        case 5:
        case 6: {
            const char* quantized = selector % 8 == 1 ? "no" : selector % 8 == 5 ? "auto" : "yes";
            earshot::MemoryIstream s(in);
            Checker c;
            (void)earshot::parse_import_jsonl(s, "fuzz.jsonl", quantized, std::ref(c));
            break;
        }
        case 2:
            npy(in, false);
            break;
        case 3:
            npy(in, true);
            break;
        default: {
            // The CSV table reader of manifests, pairs and label files, with other options.
            earshot::CsvOptions o;
            o.separator = selector % 8 == 4 ? ',' : '\t';
            o.comments = (selector & 8) != 0;
            auto t = earshot::parse_csv_table(in, "fuzz.csv", o);
            if (t) {
                check(t->rows.size() == t->lines.size());
                for (const auto& row : t->rows) check(row.size() == t->header.size());
            }
            break;
        }
    }
    return 0;
}
