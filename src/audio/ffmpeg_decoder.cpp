// FFmpeg 5.1 adapter behind audio/decoder.h. Data path, one packet at a time:
//   av_read_frame -> avcodec_send_packet/receive_frame -> down-mix (mean of channels, any
//   sample format) -> streaming soxr Resampler -> ~1 s chunks to the caller.
// Only the mono output at the target rate is ever accumulated (and only by decode_audio).
// Uses the new channel-layout API (AVFrame::ch_layout); FFmpeg types never leave this file.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/channel_layout.h>
#include <libavutil/dict.h>
#include <libavutil/error.h>
#include <libavutil/mem.h>
#include <libavutil/samplefmt.h>
}

#include "audio/decoder.h"
#include "audio/resampler.h"
#include "core/log.h"

namespace earshot {
namespace {

namespace fs = std::filesystem;

constexpr int kMinTargetRateHz = 1000;
constexpr int kMaxTargetRateHz = 384000;
// Source rates accepted in headers (open_audio_stream).
constexpr int kMinSourceRateHz = 1000;
constexpr int kMaxSourceRateHz = 768000;
constexpr int kAvioBufferSize = 64 * 1024;
constexpr std::size_t kProbeHeadBytes = 4096;
// Content-only probe scores at or above this mean "this really is format X" (RIFF/WAVE, fLaC,
// OggS, ftyp... score 99-100); extension matches alone score AVPROBE_SCORE_EXTENSION (50).
constexpr int kConfidentProbeScore = AVPROBE_SCORE_EXTENSION + 1;
constexpr const char* kSupportedHint =
    "expected an audio file FFmpeg can decode, e.g. wav, flac, ogg/vorbis, opus, mp3, m4a/aac";

// ---------------------------------------------------------------------------------------------
// One-time global set-up: FFmpeg logs only errors, and through our sink (debug level), so the
// library never prints. Our own error messages carry the reason via av_strerror.

void ffmpeg_log_callback(void* avcl, int level, const char* format, va_list args) {
    if (level > av_log_get_level() || log_level() > LogLevel::kDebug) {
        return;
    }
    char line[1024];
    int print_prefix = 1;
    av_log_format_line2(avcl, level, format, args, line, sizeof(line), &print_prefix);
    std::string_view text(line);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
        text.remove_suffix(1);
    }
    if (!text.empty()) {
        log_debug("ffmpeg: {}", text);
    }
}

void init_ffmpeg_once() {
    static std::once_flag once;
    std::call_once(once, [] {
        av_log_set_level(AV_LOG_ERROR);
        av_log_set_callback(&ffmpeg_log_callback);
    });
}

std::string av_error_text(int err) {
    char buf[AV_ERROR_MAX_STRING_SIZE] = {};
    if (av_strerror(err, buf, sizeof(buf)) < 0) {
        return fmt::format("FFmpeg error {}", err);
    }
    return buf;
}

// ---------------------------------------------------------------------------------------------
// RAII for the FFmpeg handles.

struct FormatCloser {
    void operator()(AVFormatContext* ctx) const { avformat_close_input(&ctx); }
};
struct CodecFreer {
    void operator()(AVCodecContext* ctx) const { avcodec_free_context(&ctx); }
};
struct PacketFreer {
    void operator()(AVPacket* pkt) const { av_packet_free(&pkt); }
};
struct FrameFreer {
    void operator()(AVFrame* frame) const { av_frame_free(&frame); }
};
struct AvioFreer {
    void operator()(AVIOContext* avio) const {
        if (avio == nullptr) {
            return;
        }
        av_freep(&avio->buffer);  // may have been reallocated by FFmpeg: free the current one
        avio_context_free(&avio);
    }
};
struct DictFreer {
    void operator()(AVDictionary* dict) const { av_dict_free(&dict); }
};
using FormatPtr = std::unique_ptr<AVFormatContext, FormatCloser>;
using CodecPtr = std::unique_ptr<AVCodecContext, CodecFreer>;
using PacketPtr = std::unique_ptr<AVPacket, PacketFreer>;
using FramePtr = std::unique_ptr<AVFrame, FrameFreer>;
using AvioPtr = std::unique_ptr<AVIOContext, AvioFreer>;

// ---------------------------------------------------------------------------------------------
// Custom AVIOContext over caller-owned bytes (decode_audio_memory).

struct MemorySource {
    std::span<const std::uint8_t> bytes;
    std::int64_t pos = 0;
};

int memory_read(void* opaque, std::uint8_t* buf, int buf_size) {
    auto* src = static_cast<MemorySource*>(opaque);
    const auto size = static_cast<std::int64_t>(src->bytes.size());
    if (src->pos >= size) {
        return AVERROR_EOF;
    }
    const std::int64_t n = std::min<std::int64_t>(buf_size, size - src->pos);
    std::memcpy(buf, src->bytes.data() + src->pos, static_cast<std::size_t>(n));
    src->pos += n;
    return static_cast<int>(n);
}

std::int64_t memory_seek(void* opaque, std::int64_t offset, int whence) {
    auto* src = static_cast<MemorySource*>(opaque);
    const auto size = static_cast<std::int64_t>(src->bytes.size());
    whence &= ~AVSEEK_FORCE;
    if (whence == AVSEEK_SIZE) {
        return size;
    }
    std::int64_t base = 0;
    if (whence == SEEK_CUR) {
        base = src->pos;
    } else if (whence == SEEK_END) {
        base = size;
    } else if (whence != SEEK_SET) {
        return AVERROR(EINVAL);
    }
    const std::int64_t target = base + offset;
    if (target < 0 || target > size) {
        return AVERROR(EINVAL);
    }
    src->pos = target;
    return target;
}

// ---------------------------------------------------------------------------------------------
// Opening.

// An opened input. Member order matters: fmt must close before the custom AVIOContext and the
// MemorySource it reads go away.
struct Input {
    std::string name;  // for messages: the path or the caller's name
    std::unique_ptr<MemorySource> memory;
    AvioPtr avio;
    FormatPtr fmt;
};

// Which format the first bytes look like, judged on content only (no file name); empty if none
// is recognised with confidence. Used to tell "broken X file" from "not audio at all".
std::string confident_format(std::span<const std::uint8_t> head) {
    if (head.empty()) {
        return {};
    }
    std::vector<std::uint8_t> buf(head.size() + AVPROBE_PADDING_SIZE, 0);
    std::memcpy(buf.data(), head.data(), head.size());
    AVProbeData pd{};
    pd.filename = "";
    pd.buf = buf.data();
    pd.buf_size = static_cast<int>(head.size());
    int score = 0;
    const AVInputFormat* format = av_probe_input_format3(&pd, 1, &score);
    if (format == nullptr || score < kConfidentProbeScore) {
        return {};
    }
    return format->name;
}

Result<std::vector<std::uint8_t>> read_head(const fs::path& path, const std::string& name) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return make_error(ErrorCode::kIoError,
                          fmt::format("'{}': cannot open for reading: {}", name,
                                      std::error_code(errno, std::generic_category()).message()));
    }
    std::vector<std::uint8_t> head(kProbeHeadBytes);
    in.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<std::size_t>(std::max<std::streamsize>(in.gcount(), 0)));
    return head;
}

// Maps a failed avformat_open_input. Errors from opening the file itself keep their meaning;
// anything else happened while parsing bytes we could read, so it is about the content:
// kCorruption when the bytes clearly start like a known format, else kNotSupported.
Error open_error(const std::string& name, int err, std::span<const std::uint8_t> head) {
    if (err == AVERROR(ENOENT)) {
        return Error(ErrorCode::kNotFound, fmt::format("'{}': file not found", name));
    }
    if (err == AVERROR(EACCES) || err == AVERROR(EPERM)) {
        return Error(ErrorCode::kIoError,
                     fmt::format("'{}': cannot open: {}", name, av_error_text(err)));
    }
    if (err == AVERROR(ENOMEM)) {
        return Error(ErrorCode::kInternal, fmt::format("'{}': out of memory", name));
    }
    const std::string looks_like = confident_format(head);
    if (!looks_like.empty()) {
        return Error(ErrorCode::kCorruption,
                     fmt::format("'{}': looks like {} but cannot be read: {}", name, looks_like,
                                 av_error_text(err)));
    }
    return Error(ErrorCode::kNotSupported, fmt::format("'{}': not a recognised audio file ({}); {}",
                                                       name, av_error_text(err), kSupportedHint));
}

// protocol_whitelist keeps playlist-style demuxers (hls, concat) from opening other URLs.
Result<FormatPtr> open_format(AVFormatContext* preallocated,
                              const std::string& url,
                              const char* protocol_whitelist,
                              const std::string& name,
                              std::span<const std::uint8_t> head) {
    AVDictionary* raw_opts = nullptr;
    av_dict_set(&raw_opts, "protocol_whitelist", protocol_whitelist, 0);
    std::unique_ptr<AVDictionary, DictFreer> opts(raw_opts);
    AVFormatContext* ctx = preallocated;
    AVDictionary* opts_ptr = opts.release();
    // On failure avformat_open_input frees ctx (a custom pb stays ours).
    const int err = avformat_open_input(&ctx, url.c_str(), nullptr, &opts_ptr);
    opts.reset(opts_ptr);
    if (err < 0) {
        return tl::unexpected(open_error(name, err, head));
    }
    return FormatPtr(ctx);
}

Result<Input> open_file(const fs::path& path) {
    init_ffmpeg_once();
    Input input;
    input.name = path.string();
    std::error_code ec;
    const auto status = fs::status(path, ec);
    if (!fs::exists(status)) {
        return make_error(ErrorCode::kNotFound, fmt::format("'{}': file not found", input.name));
    }
    if (fs::is_directory(status)) {
        return make_error(ErrorCode::kNotSupported,
                          fmt::format("'{}': is a directory, not an audio file", input.name));
    }
    EARSHOT_ASSIGN_OR_RETURN(const std::vector<std::uint8_t> head, read_head(path, input.name));
    if (head.empty()) {
        return make_error(ErrorCode::kNotSupported,
                          fmt::format("'{}': empty file, not audio", input.name));
    }
    // "file:" keeps names such as "a:b.wav" from being taken as a protocol.
    EARSHOT_ASSIGN_OR_RETURN(input.fmt,
                             open_format(nullptr, "file:" + input.name, "file", input.name, head));
    return input;
}

Result<Input> open_memory(std::span<const std::uint8_t> bytes, const std::string& name) {
    init_ffmpeg_once();
    Input input;
    input.name = name;
    if (bytes.empty()) {
        return make_error(ErrorCode::kNotSupported, fmt::format("'{}': no bytes, not audio", name));
    }
    input.memory = std::make_unique<MemorySource>(MemorySource{bytes, 0});
    auto* buffer = static_cast<std::uint8_t*>(av_malloc(kAvioBufferSize));
    if (buffer == nullptr) {
        return make_error(ErrorCode::kInternal, fmt::format("'{}': out of memory", name));
    }
    input.avio.reset(avio_alloc_context(buffer, kAvioBufferSize, 0, input.memory.get(),
                                        &memory_read, nullptr, &memory_seek));
    if (!input.avio) {
        av_free(buffer);
        return make_error(ErrorCode::kInternal, fmt::format("'{}': out of memory", name));
    }
    AVFormatContext* ctx = avformat_alloc_context();
    if (ctx == nullptr) {
        return make_error(ErrorCode::kInternal, fmt::format("'{}': out of memory", name));
    }
    ctx->pb = input.avio.get();
    ctx->flags |= AVFMT_FLAG_CUSTOM_IO;
    const auto head = bytes.first(std::min(bytes.size(), kProbeHeadBytes));
    // The name only guides probing by extension; nested opens are refused ("none").
    EARSHOT_ASSIGN_OR_RETURN(input.fmt, open_format(ctx, name, "none", name, head));
    return input;
}

// ---------------------------------------------------------------------------------------------
// Stream selection and facts.

struct AudioStream {
    int index = -1;
    AVStream* stream = nullptr;
    const AVCodec* decoder = nullptr;
    AudioInfo info;
};

// A format detected "only with low score" (e.g. random bytes that happen to parse as MPEG
// audio) that then fails is reported as unsupported rather than corrupt.
bool weakly_detected(const AVFormatContext* fmt) {
    return fmt->probe_score < AVPROBE_SCORE_RETRY;
}

// Durations estimated from the bit rate (e.g. VBR MP3 without a Xing header) are guesses.
bool header_is_reliable(const AVFormatContext* fmt) {
    return fmt->duration_estimation_method != AVFMT_DURATION_FROM_BITRATE;
}

std::string find_tag(const AVFormatContext* fmt, const AVStream* stream, const char* key) {
    // av_dict_get matches keys case-insensitively unless AV_DICT_MATCH_CASE is given.
    for (const AVDictionary* dict : {fmt->metadata, stream->metadata}) {
        const AVDictionaryEntry* e = av_dict_get(dict, key, nullptr, 0);
        if (e != nullptr && e->value != nullptr && e->value[0] != '\0') {
            return e->value;
        }
    }
    return {};
}

int bits_per_sample(const AVCodecParameters* par) {
    const AVCodecDescriptor* desc = avcodec_descriptor_get(par->codec_id);
    if (desc != nullptr && (desc->props & AV_CODEC_PROP_LOSSY) != 0) {
        return 0;
    }
    if (par->bits_per_raw_sample > 0) {
        return par->bits_per_raw_sample;
    }
    if (par->bits_per_coded_sample > 0) {
        return par->bits_per_coded_sample;
    }
    if (par->format >= 0) {
        return 8 * av_get_bytes_per_sample(static_cast<AVSampleFormat>(par->format));
    }
    return 0;
}

double header_duration_s(const AVFormatContext* fmt, const AVStream* stream) {
    if (fmt->duration != AV_NOPTS_VALUE && fmt->duration > 0) {
        return static_cast<double>(fmt->duration) / AV_TIME_BASE;
    }
    if (stream->duration != AV_NOPTS_VALUE && stream->duration > 0) {
        return static_cast<double>(stream->duration) * av_q2d(stream->time_base);
    }
    return 0.0;
}

Result<AudioStream> find_audio_stream(Input& input) {
    AVFormatContext* fmt = input.fmt.get();
    const int err = avformat_find_stream_info(fmt, nullptr);
    if (err < 0) {
        return make_error(
            weakly_detected(fmt) ? ErrorCode::kNotSupported : ErrorCode::kCorruption,
            fmt::format("'{}': cannot read stream info: {}", input.name, av_error_text(err)));
    }
    int index = av_find_best_stream(fmt, AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0);
    if (index < 0) {
        // av_find_best_stream skips audio streams whose parameters could not be determined;
        // take the first one anyway so the check below reports it as broken, not absent.
        for (unsigned i = 0; i < fmt->nb_streams && index < 0; ++i) {
            if (fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO) {
                index = static_cast<int>(i);
            }
        }
    }
    if (index < 0) {
        std::string found;
        for (unsigned i = 0; i < fmt->nb_streams; ++i) {
            const char* type = av_get_media_type_string(fmt->streams[i]->codecpar->codec_type);
            found += fmt::format("{}{}", found.empty() ? "" : ", ", type ? type : "unknown");
        }
        return make_error(
            ErrorCode::kNotSupported,
            fmt::format("'{}': no audio stream ({} with {}); {}", input.name, fmt->iformat->name,
                        found.empty() ? "no streams" : "streams: " + found, kSupportedHint));
    }
    AudioStream out;
    out.index = index;
    out.stream = fmt->streams[index];
    const AVCodecParameters* par = out.stream->codecpar;
    for (unsigned i = 0; i < fmt->nb_streams; ++i) {
        if (static_cast<int>(i) != index) {
            fmt->streams[i]->discard = AVDISCARD_ALL;
        }
    }
    if (par->sample_rate <= 0 || par->ch_layout.nb_channels <= 0) {
        if (weakly_detected(fmt)) {
            return make_error(ErrorCode::kNotSupported,
                              fmt::format("'{}': not a recognised audio file (only a weak match "
                                          "for {}, with no decodable stream); {}",
                                          input.name, fmt->iformat->name, kSupportedHint));
        }
        return make_error(ErrorCode::kCorruption,
                          fmt::format("'{}': {} audio stream without sample rate or channels "
                                      "({} Hz, {} channels)",
                                      input.name, fmt->iformat->name, par->sample_rate,
                                      par->ch_layout.nb_channels));
    }
    // A header can claim any rate: 1 Hz turns 16,000 samples into 16,000 s. Real audio is
    // 1 kHz (some speech corpora use 2-4 kHz) to 768 kHz (DXD x2).
    if (par->sample_rate < kMinSourceRateHz || par->sample_rate > kMaxSourceRateHz) {
        return make_error(ErrorCode::kCorruption,
                          fmt::format("'{}': implausible sample rate {} Hz in the {} header "
                                      "(accepted: {}..{} Hz)",
                                      input.name, par->sample_rate, fmt->iformat->name,
                                      kMinSourceRateHz, kMaxSourceRateHz));
    }
    out.decoder = avcodec_find_decoder(par->codec_id);
    if (out.decoder == nullptr) {
        return make_error(ErrorCode::kNotSupported,
                          fmt::format("'{}': no decoder for codec '{}'", input.name,
                                      avcodec_get_name(par->codec_id)));
    }
    AudioInfo& info = out.info;
    info.duration_s = header_duration_s(fmt, out.stream);
    info.sample_rate_hz = par->sample_rate;
    info.channels = par->ch_layout.nb_channels;
    info.codec = avcodec_get_name(par->codec_id);
    info.container = fmt->iformat->name;
    info.bits_per_sample = bits_per_sample(par);
    info.title = find_tag(fmt, out.stream, "title");
    info.artist = find_tag(fmt, out.stream, "artist");
    return out;
}

Result<CodecPtr> open_decoder(const Input& input, const AudioStream& audio) {
    CodecPtr ctx(avcodec_alloc_context3(audio.decoder));
    if (!ctx) {
        return make_error(ErrorCode::kInternal, fmt::format("'{}': out of memory", input.name));
    }
    int err = avcodec_parameters_to_context(ctx.get(), audio.stream->codecpar);
    if (err >= 0) {
        ctx->pkt_timebase = audio.stream->time_base;
        ctx->thread_count = 1;  // callers decode many files in parallel
        err = avcodec_open2(ctx.get(), audio.decoder, nullptr);
    }
    if (err < 0) {
        return make_error(ErrorCode::kNotSupported,
                          fmt::format("'{}': cannot open {} decoder: {}", input.name,
                                      audio.decoder->name, av_error_text(err)));
    }
    return ctx;
}

// ---------------------------------------------------------------------------------------------
// Down-mix: mean over channels of one decoded frame, converted to float from any sample format.

template <typename T, typename Convert>
void mix_frame(
    const AVFrame* frame, int n, int channels, bool planar, Convert convert, float* out) {
    const float scale = 1.0f / static_cast<float>(channels);
    if (planar) {
        std::fill(out, out + n, 0.0f);
        for (int c = 0; c < channels; ++c) {
            const T* src = reinterpret_cast<const T*>(frame->extended_data[c]);
            for (int i = 0; i < n; ++i) {
                out[i] += convert(src[i]);
            }
        }
        for (int i = 0; i < n; ++i) {
            out[i] *= scale;
        }
    } else {
        const T* src = reinterpret_cast<const T*>(frame->extended_data[0]);
        for (int i = 0; i < n; ++i) {
            float sum = 0.0f;
            for (int c = 0; c < channels; ++c) {
                sum += convert(src[i * channels + c]);
            }
            out[i] = sum * scale;
        }
    }
}

// Writes the first n samples of frame, down-mixed, to out. False for an unknown sample format.
bool downmix(const AVFrame* frame, int n, std::vector<float>& out) {
    const int channels = frame->ch_layout.nb_channels;
    const auto format = static_cast<AVSampleFormat>(frame->format);
    const bool planar = av_sample_fmt_is_planar(format) != 0;
    out.resize(static_cast<std::size_t>(n));
    float* dst = out.data();
    switch (av_get_packed_sample_fmt(format)) {
        case AV_SAMPLE_FMT_U8:
            mix_frame<std::uint8_t>(
                frame, n, channels, planar,
                [](std::uint8_t v) { return (static_cast<float>(v) - 128.0f) * (1.0f / 128.0f); },
                dst);
            return true;
        case AV_SAMPLE_FMT_S16:
            mix_frame<std::int16_t>(
                frame, n, channels, planar,
                [](std::int16_t v) { return static_cast<float>(v) * (1.0f / 32768.0f); }, dst);
            return true;
        case AV_SAMPLE_FMT_S32:  // also 24-bit sources, which FFmpeg left-aligns in 32 bits
            mix_frame<std::int32_t>(
                frame, n, channels, planar,
                [](std::int32_t v) { return static_cast<float>(v) * (1.0f / 2147483648.0f); }, dst);
            return true;
        case AV_SAMPLE_FMT_S64:
            mix_frame<std::int64_t>(
                frame, n, channels, planar,
                [](std::int64_t v) {
                    return static_cast<float>(static_cast<double>(v) *
                                              (1.0 / 9223372036854775808.0));
                },
                dst);
            return true;
        case AV_SAMPLE_FMT_FLT:
            mix_frame<float>(
                frame, n, channels, planar, [](float v) { return v; }, dst);
            return true;
        case AV_SAMPLE_FMT_DBL:
            mix_frame<double>(
                frame, n, channels, planar, [](double v) { return static_cast<float>(v); }, dst);
            return true;
        default:
            return false;
    }
}

// ---------------------------------------------------------------------------------------------
// The decode loop.

class StreamDecoder {
public:
    StreamDecoder(const Input& input,
                  const DecodeOptions& options,
                  const AudioChunkCallback& on_chunk)
        : input_(input),
          options_(options),
          on_chunk_(on_chunk),
          chunk_samples_(static_cast<std::size_t>(options.target_sample_rate_hz)) {
        if (options.max_duration_s > 0.0) {
            out_limit_ = static_cast<std::int64_t>(
                std::llround(options.max_duration_s * options.target_sample_rate_hz));
        }
    }

    // Decodes the whole stream (or up to max_duration_s); fills info.duration_s.
    Status run(AVFormatContext* fmt,
               AVCodecContext* codec,
               const AudioStream& audio,
               AudioInfo& info) {
        PacketPtr packet(av_packet_alloc());
        FramePtr frame(av_frame_alloc());
        if (!packet || !frame) {
            return make_error(ErrorCode::kInternal,
                              fmt::format("'{}': out of memory", input_.name));
        }
        int read_error = 0;
        while (!reached_limit_) {
            const int err = av_read_frame(fmt, packet.get());
            if (err == AVERROR_EOF) {
                break;
            }
            if (err < 0) {
                read_error = err;
                break;
            }
            if (packet->stream_index != audio.index) {
                av_packet_unref(packet.get());
                continue;
            }
            Status sent = send_and_drain(codec, packet.get(), frame.get());
            av_packet_unref(packet.get());
            EARSHOT_RETURN_IF_ERROR(sent);
        }
        if (!reached_limit_) {
            EARSHOT_RETURN_IF_ERROR(send_and_drain(codec, nullptr, frame.get()));  // flush
        }
        if (resampler_) {
            EARSHOT_RETURN_IF_ERROR(resampler_->finish(pending_));
        }
        EARSHOT_RETURN_IF_ERROR(emit(/*final=*/true));

        const int reason = read_error != 0 ? read_error : last_decode_error_;
        if (decoded_samples_ == 0) {
            const bool weak = weakly_detected(fmt);
            const ErrorCode code = weak ? ErrorCode::kNotSupported : ErrorCode::kCorruption;
            if (reason != 0) {
                return make_error(
                    code, fmt::format("'{}': no audio could be decoded ({} {}): {}", input_.name,
                                      info.container, info.codec, av_error_text(reason)));
            }
            return make_error(code, fmt::format("'{}': contains no audio samples ({} {})",
                                                input_.name, info.container, info.codec));
        }
        if (read_error != 0) {
            log_warning("'{}': read error after {:.3f} s of audio, keeping what was decoded: {}",
                        input_.name, decoded_s_, av_error_text(read_error));
        }
        if (bad_packets_ > 0) {
            log_warning("'{}': skipped {} undecodable packet(s): {}", input_.name, bad_packets_,
                        av_error_text(last_decode_error_));
        }
        if (!reached_limit_ && read_error == 0 && header_is_reliable(fmt) &&
            decoded_s_ < 0.98 * info.duration_s - 0.05) {
            log_warning("'{}': decoded {:.3f} s of the {:.3f} s the header announces (truncated?)",
                        input_.name, decoded_s_, info.duration_s);
        }
        // Measured duration of the source; a max_duration_s cut keeps the header's figure.
        if (!reached_limit_ || info.duration_s <= 0.0) {
            info.duration_s = decoded_s_;
        }
        return ok_status();
    }

private:
    // Sends one packet (nullptr = flush) and consumes every frame the decoder has ready.
    Status send_and_drain(AVCodecContext* codec, const AVPacket* packet, AVFrame* frame) {
        for (int attempt = 0;; ++attempt) {
            const int sent = avcodec_send_packet(codec, packet);
            if (sent == AVERROR(EAGAIN) && attempt == 0) {  // full: take frames out, retry once
                EARSHOT_RETURN_IF_ERROR(drain(codec, frame));
                if (reached_limit_) {
                    return ok_status();
                }
                continue;
            }
            if (sent == AVERROR(ENOMEM)) {
                return make_error(ErrorCode::kInternal,
                                  fmt::format("'{}': out of memory while decoding", input_.name));
            }
            if (sent < 0 && sent != AVERROR_EOF) {
                note_decode_error(sent);
            }
            return drain(codec, frame);
        }
    }

    Status drain(AVCodecContext* codec, AVFrame* frame) {
        while (!reached_limit_) {
            const int got = avcodec_receive_frame(codec, frame);
            if (got == AVERROR(EAGAIN) || got == AVERROR_EOF) {
                break;
            }
            if (got < 0) {
                note_decode_error(got);
                break;
            }
            Status consumed = consume(frame);
            av_frame_unref(frame);
            EARSHOT_RETURN_IF_ERROR(consumed);
        }
        return ok_status();
    }

    void note_decode_error(int err) {
        ++bad_packets_;
        last_decode_error_ = err;
    }

    Status consume(const AVFrame* frame) {
        const int rate = frame->sample_rate;
        if (frame->nb_samples <= 0 || rate <= 0 || frame->ch_layout.nb_channels <= 0) {
            return ok_status();
        }
        int n = frame->nb_samples;
        if (options_.max_duration_s > 0.0) {
            const double remaining_s = options_.max_duration_s - decoded_s_;
            const double keep = std::ceil(remaining_s * rate - 1e-6);
            if (keep < n) {
                n = std::max(0, static_cast<int>(keep));
                reached_limit_ = true;
            }
            if (n == 0) {
                return ok_status();
            }
        }
        if (!downmix(frame, n, mono_)) {
            return make_error(
                ErrorCode::kNotSupported,
                fmt::format("'{}': unsupported sample format '{}'", input_.name,
                            av_get_sample_fmt_name(static_cast<AVSampleFormat>(frame->format))));
        }
        if (!resampler_ || rate != resampler_in_rate_) {
            // First frame, or the rate changed mid-stream: flush the old filter, start anew.
            if (resampler_) {
                EARSHOT_RETURN_IF_ERROR(resampler_->finish(pending_));
            }
            EARSHOT_ASSIGN_OR_RETURN(resampler_,
                                     Resampler::make(rate, options_.target_sample_rate_hz));
            resampler_in_rate_ = rate;
        }
        EARSHOT_RETURN_IF_ERROR(resampler_->process(mono_, pending_));
        decoded_samples_ += n;
        decoded_s_ += static_cast<double>(n) / rate;
        if (options_.check) {
            EARSHOT_RETURN_IF_ERROR(options_.check(decoded_s_));
        }
        return emit(/*final=*/false);
    }

    // Hands full chunks (and, when final, the remainder) to the callback.
    Status emit(bool final) {
        if (out_limit_ >= 0) {
            const auto allowed = static_cast<std::size_t>(
                std::max<std::int64_t>(0, out_limit_ - static_cast<std::int64_t>(emitted_)));
            if (pending_.size() > allowed) {
                pending_.resize(allowed);
            }
        }
        std::size_t offset = 0;
        while (pending_.size() - offset >= chunk_samples_ || (final && offset < pending_.size())) {
            const std::size_t n = std::min(chunk_samples_, pending_.size() - offset);
            EARSHOT_RETURN_IF_ERROR(on_chunk_(std::span<const float>(pending_.data() + offset, n)));
            offset += n;
            emitted_ += n;
        }
        pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(offset));
        return ok_status();
    }

    const Input& input_;
    const DecodeOptions& options_;
    const AudioChunkCallback& on_chunk_;
    const std::size_t chunk_samples_;
    std::int64_t out_limit_ = -1;  // output samples allowed by max_duration_s, -1 = no limit

    std::unique_ptr<Resampler> resampler_;
    int resampler_in_rate_ = 0;
    std::vector<float> mono_;     // one frame, down-mixed, original rate
    std::vector<float> pending_;  // resampled, not yet handed out (< 1 chunk + 1 frame)
    std::size_t emitted_ = 0;

    std::int64_t decoded_samples_ = 0;  // at the source rate(s)
    double decoded_s_ = 0.0;
    bool reached_limit_ = false;
    int bad_packets_ = 0;
    int last_decode_error_ = 0;
};

Status validate(const DecodeOptions& options, const std::string& name) {
    if (options.target_sample_rate_hz < kMinTargetRateHz ||
        options.target_sample_rate_hz > kMaxTargetRateHz) {
        return make_error(
            ErrorCode::kInvalidArgument,
            fmt::format("'{}': target sample rate {} Hz outside {}..{} Hz", name,
                        options.target_sample_rate_hz, kMinTargetRateHz, kMaxTargetRateHz));
    }
    return ok_status();
}

Result<AudioInfo> decode_input(Input& input,
                               const DecodeOptions& options,
                               const AudioChunkCallback& on_chunk) {
    EARSHOT_ASSIGN_OR_RETURN(AudioStream audio, find_audio_stream(input));
    EARSHOT_ASSIGN_OR_RETURN(CodecPtr codec, open_decoder(input, audio));
    AudioInfo info = audio.info;
    StreamDecoder decoder(input, options, on_chunk);
    EARSHOT_RETURN_IF_ERROR(decoder.run(input.fmt.get(), codec.get(), audio, info));
    return info;
}

Result<AudioBuffer> decode_to_buffer(Input& input, const DecodeOptions& options, AudioInfo* info) {
    AudioBuffer buffer;
    buffer.sample_rate_hz = options.target_sample_rate_hz;
    EARSHOT_ASSIGN_OR_RETURN(
        AudioInfo decoded_info,
        decode_input(input, options, [&buffer](std::span<const float> chunk) -> Status {
            buffer.samples.insert(buffer.samples.end(), chunk.begin(), chunk.end());
            return ok_status();
        }));
    if (info != nullptr) {
        *info = std::move(decoded_info);
    }
    return buffer;
}

}  // namespace

Result<AudioInfo> probe_audio(const std::filesystem::path& path) {
    EARSHOT_ASSIGN_OR_RETURN(Input input, open_file(path));
    EARSHOT_ASSIGN_OR_RETURN(AudioStream audio, find_audio_stream(input));
    return audio.info;
}

Result<AudioBuffer> decode_audio(const std::filesystem::path& path,
                                 const DecodeOptions& options,
                                 AudioInfo* info) {
    EARSHOT_RETURN_IF_ERROR(validate(options, path.string()));
    EARSHOT_ASSIGN_OR_RETURN(Input input, open_file(path));
    return decode_to_buffer(input, options, info);
}

Result<AudioInfo> decode_audio_chunks(const std::filesystem::path& path,
                                      const DecodeOptions& options,
                                      const AudioChunkCallback& on_chunk) {
    EARSHOT_RETURN_IF_ERROR(validate(options, path.string()));
    EARSHOT_ASSIGN_OR_RETURN(Input input, open_file(path));
    return decode_input(input, options, on_chunk);
}

Result<AudioBuffer> decode_audio_memory(std::span<const std::uint8_t> bytes,
                                        const std::string& name,
                                        const DecodeOptions& options,
                                        AudioInfo* info) {
    EARSHOT_RETURN_IF_ERROR(validate(options, name));
    EARSHOT_ASSIGN_OR_RETURN(Input input, open_memory(bytes, name));
    return decode_to_buffer(input, options, info);
}

}  // namespace earshot
