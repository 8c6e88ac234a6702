// libFuzzer: the embedding importers (engine/importer.cpp): CSV, JSONL (earshot export and
// AudioSet records, quantised or not) and npy (+ its .jsonl metadata). The first input byte picks
// the format, the rest is the file. Rows go into an in-memory catalog, recreated every 256 runs.
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "catalog/catalog.h"
#include "engine/importer.h"
#include "fuzz_util.h"

namespace {

earshot::Catalog& catalog() {
    static std::unique_ptr<earshot::Catalog> cat;
    static int runs = 0;
    if (!cat || ++runs % 256 == 0) {
        cat.reset();
        auto c = earshot::Catalog::open(":memory:");
        if (!c)
            std::abort();
        cat = std::move(*c);
    }
    return *cat;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    earshot::fuzz::silence_logs();
    if (size < 1)
        return 0;
    const std::uint8_t selector = data[0];
    ++data;
    --size;
    earshot::ImportOptions o;
    o.space = "fuzz";
    o.batch_size = 7;
    switch (selector % 4) {
        case 0:
            o.format = "csv";
            o.file = earshot::fuzz::write_scratch("in.csv", data, size);
            break;
        case 1:
            o.format = "jsonl";
            o.quantized = (selector & 4) ? "auto" : "no";
            o.file = earshot::fuzz::write_scratch("in.jsonl", data, size);
            break;
        case 2:
            o.format = "npy";
            o.file = earshot::fuzz::write_scratch("in.npy", data, size);
            o.metadata = earshot::fuzz::scratch_dir() / "none.jsonl";  // absent: rows named
            break;
        default: {
            // npy followed by its metadata: split at the first 0xFF 0x00 0xFF marker, if any.
            std::size_t cut = size;
            for (std::size_t i = 0; i + 2 < size; ++i) {
                if (data[i] == 0xFF && data[i + 1] == 0x00 && data[i + 2] == 0xFF) {
                    cut = i;
                    break;
                }
            }
            o.format = "npy";
            o.file = earshot::fuzz::write_scratch("meta.npy", data, cut);
            const std::size_t rest = cut + 3 <= size ? size - cut - 3 : 0;
            o.metadata = earshot::fuzz::write_scratch("meta.jsonl", data + size - rest, rest);
            break;
        }
    }
    auto r = earshot::import_embeddings(catalog(), o);
    if (r && r->rows < r->added + r->updated)
        std::abort();
    return 0;
}
