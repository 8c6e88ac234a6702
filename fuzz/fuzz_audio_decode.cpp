// libFuzzer: decode_audio_memory (FFmpeg probing/demuxing/decoding + our adapter, resampler and
// down-mix) on arbitrary bytes. Invariants: no crash, no hang; success means finite-length mono
// output at the requested rate.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "audio/decoder.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    earshot::fuzz::silence_logs();
    earshot::DecodeOptions options;
    options.target_sample_rate_hz = 16000;
    options.max_duration_s = 20.0;  // the server's kind of bound: headers may claim hours
    earshot::AudioInfo info;
    auto audio = earshot::decode_audio_memory(std::span<const std::uint8_t>(data, size),
                                              "fuzz-input", options, &info);
    if (audio) {
        if (audio->sample_rate_hz != 16000)
            std::abort();
        if (audio->samples.size() > static_cast<std::size_t>(20.0 * 16000) + 16000)
            std::abort();  // max_duration_s not honoured
    }
    return 0;
}
