// libFuzzer: load_index (header, flat / HNSW / IVF-PQ payloads, checksum; what load_index_file
// runs on the file) on arbitrary bytes in memory, then a search on what loads. Seeds: small valid
// files of each kind (make_seeds). Note: the payload checksum makes mutated payloads fail early;
// the seed corpus also holds files whose checksum is recomputed (make_seeds), and EARSHOT_FUZZ
// builds skip nothing.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "core/memory_stream.h"
#include "fuzz_util.h"
#include "index/index_file.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    earshot::fuzz::silence_logs();
    earshot::MemoryIstream in(data, size);
    auto loaded = earshot::load_index(in, size, "fuzz.esix");
    if (!loaded)
        return 0;
    auto& index = *loaded->index;
    if (index.dim() <= 0 || index.dim() > (1 << 16))
        std::abort();
    std::vector<float> q(static_cast<std::size_t>(index.dim()), 0.25f);
    earshot::SearchOptions so;
    so.k = 5;
    auto hits = index.search(q, so);
    if (hits && hits->size() > 5)
        std::abort();
    return 0;
}
