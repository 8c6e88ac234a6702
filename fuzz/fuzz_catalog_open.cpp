// libFuzzer: Catalog::open on arbitrary bytes written to a file (header checks, quick_check,
// schema validation, migrations), then every read `earshot check` does. A damaged file must give
// an Error, never a crash or an abort.
#include <cstdint>
#include <cstdlib>
#include <filesystem>

#include "catalog/catalog.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    earshot::fuzz::silence_logs();
    const auto dir = earshot::fuzz::scratch_dir();
    std::error_code ec;
    for (const char* extra : {"in.earshot-wal", "in.earshot-shm"})
        std::filesystem::remove(dir / extra, ec);
    auto path = earshot::fuzz::write_scratch("in.earshot", data, size);
    earshot::CatalogOptions options;
    options.create_if_missing = false;
    auto cat = earshot::Catalog::open(path, options);
    if (!cat)
        return 0;
    auto& c = **cat;
    (void)c.check_integrity();
    (void)c.list_items(0, 50);
    (void)c.count_items("a");
    (void)c.stats();
    if (auto spaces = c.spaces()) {
        for (const auto& s : *spaces) {
            auto set = c.load_embeddings(s.space);
            if (set && set->vectors.n_rows != set->ids.size())
                std::abort();
            (void)c.space_state(s.space);
            if (set && !set->ids.empty())
                (void)c.get_segments(set->ids.front(), s.space);
        }
    }
    return 0;
}
