// Decoding any audio file FFmpeg understands (wav, flac, ogg/vorbis, opus, mp3, m4a/aac, ...)
// to mono float32 at a requested rate. Multi-channel input is down-mixed by averaging channels;
// resampling uses soxr (high quality). Decoding streams: the source is never held whole at its
// original rate, only the mono output at the target rate. All functions are thread-safe (each
// call has its own FFmpeg contexts).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>

#include "audio/audio_buffer.h"
#include "core/status.h"

namespace earshot {

struct DecodeOptions {
    int target_sample_rate_hz = 16000;  // REQUIRES: 1000..384000
    double max_duration_s = 0.0;        // > 0: stop after this much audio (from the start)
    // Called after every decoded frame with the seconds of source audio decoded so far; an
    // error it returns stops decoding at once and is returned as is (e.g. a duration limit or a
    // time budget for untrusted uploads, checked while decoding so a long file costs nothing
    // beyond the limit). Empty: no check.
    std::function<Status(double decoded_s)> check;
};

// Reads headers/tags only (cheap). kNotFound if missing; kNotSupported if FFmpeg cannot open
// it as audio (e.g. a text file or an image); kIoError otherwise.
Result<AudioInfo> probe_audio(const std::filesystem::path& path);

// Decodes the first audio stream to mono float32 at options.target_sample_rate_hz.
// info (optional) receives the same facts as probe_audio, with duration_s measured from the
// decoded samples. Errors as probe_audio, plus kCorruption when the stream fails to decode
// and kInvalidArgument for a bad target rate. The message names the file and the reason.
// A stream that breaks off (truncated file, undecodable packets) returns what did decode and
// logs a warning; kCorruption only when nothing decoded. With max_duration_s cutting the
// decode short, info->duration_s keeps the header's figure for the whole source.
Result<AudioBuffer> decode_audio(const std::filesystem::path& path,
                                 const DecodeOptions& options,
                                 AudioInfo* info = nullptr);

// Same, but delivers the mono output in chunks (in order) instead of one buffer, so a caller
// can process an hour-long file in bounded memory. Returns the AudioInfo.
// Each chunk holds 1 s (target_sample_rate_hz samples), the last one the remainder. An error
// returned by on_chunk stops decoding and is returned as is.
using AudioChunkCallback = std::function<Status(std::span<const float> chunk)>;
Result<AudioInfo> decode_audio_chunks(const std::filesystem::path& path,
                                      const DecodeOptions& options,
                                      const AudioChunkCallback& on_chunk);

// Decodes audio held in memory (e.g. an HTTP upload). name is used in error messages.
Result<AudioBuffer> decode_audio_memory(std::span<const std::uint8_t> bytes,
                                        const std::string& name,
                                        const DecodeOptions& options,
                                        AudioInfo* info = nullptr);

}  // namespace earshot
