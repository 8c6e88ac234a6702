// libFuzzer: Catalog::open on damaged catalog files (header checks, quick_check, schema
// validation, migrations), then every read `earshot check` does. A damaged file must give an
// Error, never a crash or an abort.
// Input: either a whole file (starting with "SQLite format 3\0"), or a list of patches applied to
// a small valid catalog made at start-up (5 items, 16-d vectors with segments; 32 KiB pages make
// it ~0.5 MiB, too big to mutate as a whole): records of [u32 LE offset][u8 n][n bytes], the
// offset taken modulo the file size.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "catalog/catalog.h"
#include "fuzz_util.h"

namespace {

namespace fs = std::filesystem;

std::string make_pristine() {
    const auto path = earshot::fuzz::scratch_dir() / "pristine.earshot";
    {
        auto cat = earshot::Catalog::open(path);
        if (!cat)
            std::abort();
        for (int i = 1; i <= 5; ++i) {
            earshot::ItemRecord it;
            it.path = "/lib/item_" + std::to_string(i) + ".wav";
            it.name = "item_" + std::to_string(i) + ".wav";
            it.duration_s = i;
            it.labels = "tag" + std::to_string(i);
            std::vector<float> v(16);
            for (std::size_t k = 0; k < v.size(); ++k) v[k] = float(i) * 0.1f + float(k);
            earshot::Matrix seg(2, 16, 0.5f);
            std::vector<earshot::SegmentRecord> times = {{0.0, 0.5}, {0.5, 1.0}};
            if (!(*cat)->put_item(it, "fuzz", v, seg, times))
                std::abort();
        }
    }
    std::ifstream in(path, std::ios::binary);
    std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    std::error_code ec;
    fs::remove(path, ec);
    return bytes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    earshot::fuzz::silence_logs();
    static const std::string pristine = make_pristine();
    static const char kMagic[] = "SQLite format 3";
    std::string file;
    if (size >= sizeof kMagic && std::memcmp(data, kMagic, sizeof kMagic) == 0) {
        file.assign(reinterpret_cast<const char*>(data), size);
    } else {
        file = pristine;
        std::size_t i = 0;
        while (i + 5 <= size) {
            std::uint32_t off = 0;
            std::memcpy(&off, data + i, 4);
            std::size_t n = data[i + 4];
            i += 5;
            n = std::min(n, size - i);
            const std::size_t at = off % file.size();
            for (std::size_t k = 0; k < n && at + k < file.size(); ++k)
                file[at + k] = static_cast<char>(data[i + k]);
            i += n;
        }
    }
    const auto dir = earshot::fuzz::scratch_dir();
    std::error_code ec;
    for (const char* extra : {"in.earshot-wal", "in.earshot-shm"}) fs::remove(dir / extra, ec);
    auto path = earshot::fuzz::write_scratch(
        "in.earshot", reinterpret_cast<const std::uint8_t*>(file.data()), file.size());
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
            (void)c.load_embeddings_since(s.space, 0, true);
            if (set && !set->ids.empty())
                (void)c.get_segments(set->ids.front(), s.space);
        }
    }
    return 0;
}
