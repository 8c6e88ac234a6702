#include "encode_fixture.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include <fmt/format.h>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/dict.h>
#include <libavutil/error.h>
#include <libavutil/samplefmt.h>
}

namespace earshot::testing {
namespace {

std::string av_error_text(int err) {
    char buf[AV_ERROR_MAX_STRING_SIZE] = {};
    av_strerror(err, buf, sizeof(buf));
    return buf;
}

struct OutputCloser {
    void operator()(AVFormatContext* ctx) const {
        if (ctx == nullptr) {
            return;
        }
        if (ctx->pb != nullptr && (ctx->oformat->flags & AVFMT_NOFILE) == 0) {
            avio_closep(&ctx->pb);
        }
        avformat_free_context(ctx);
    }
};
struct CodecFreer {
    void operator()(AVCodecContext* ctx) const { avcodec_free_context(&ctx); }
};
struct FrameFreer {
    void operator()(AVFrame* frame) const { av_frame_free(&frame); }
};
struct PacketFreer {
    void operator()(AVPacket* pkt) const { av_packet_free(&pkt); }
};

Status fail(const std::filesystem::path& path, const std::string& what, int err) {
    return make_error(ErrorCode::kInternal, fmt::format("encode_fixture '{}': {}: {}",
                                                        path.string(), what, av_error_text(err)));
}

// Float in [-1, 1] to the encoder's sample type (24-bit data sits left-aligned in 32 bits).
void store_sample(AVSampleFormat packed, int bits_per_raw, float v, std::uint8_t* dst) {
    const double x = std::clamp(static_cast<double>(v), -1.0, 1.0);
    switch (packed) {
        case AV_SAMPLE_FMT_U8: {
            const auto s = static_cast<std::uint8_t>(std::lround(x * 127.0) + 128);
            std::memcpy(dst, &s, sizeof(s));
            break;
        }
        case AV_SAMPLE_FMT_S16: {
            const auto s = static_cast<std::int16_t>(std::lround(x * 32767.0));
            std::memcpy(dst, &s, sizeof(s));
            break;
        }
        case AV_SAMPLE_FMT_S32: {
            std::int32_t s = 0;
            if (bits_per_raw > 0 && bits_per_raw < 32) {
                const double full = std::ldexp(1.0, bits_per_raw - 1) - 1.0;
                s = static_cast<std::int32_t>(static_cast<std::uint32_t>(std::lround(x * full))
                                              << (32 - bits_per_raw));
            } else {
                s = static_cast<std::int32_t>(std::llround(x * 2147483647.0));
            }
            std::memcpy(dst, &s, sizeof(s));
            break;
        }
        case AV_SAMPLE_FMT_FLT: {
            const auto s = static_cast<float>(x);
            std::memcpy(dst, &s, sizeof(s));
            break;
        }
        case AV_SAMPLE_FMT_DBL:
            std::memcpy(dst, &x, sizeof(x));
            break;
        default:
            break;
    }
}

}  // namespace

Status encode_fixture(const std::filesystem::path& path,
                      const FixtureSpec& spec,
                      std::int64_t n_frames,
                      const FixtureSignal& signal) {
    av_log_set_level(AV_LOG_ERROR);
    const std::string file = path.string();
    AVFormatContext* raw_out = nullptr;
    int err =
        avformat_alloc_output_context2(&raw_out, nullptr, spec.container.c_str(), file.c_str());
    if (err < 0) {
        return fail(path, "muxer " + spec.container, err);
    }
    std::unique_ptr<AVFormatContext, OutputCloser> out(raw_out);

    const AVCodec* codec = avcodec_find_encoder_by_name(spec.codec.c_str());
    if (codec == nullptr) {
        return make_error(ErrorCode::kNotSupported, "no encoder " + spec.codec);
    }
    std::unique_ptr<AVCodecContext, CodecFreer> enc(avcodec_alloc_context3(codec));
    enc->sample_rate = spec.sample_rate_hz;
    av_channel_layout_default(&enc->ch_layout, spec.channels);
    enc->sample_fmt = spec.sample_format.empty() ? codec->sample_fmts[0]
                                                 : av_get_sample_fmt(spec.sample_format.c_str());
    if (enc->sample_fmt == AV_SAMPLE_FMT_NONE) {
        return make_error(ErrorCode::kInvalidArgument, "bad sample format " + spec.sample_format);
    }
    enc->bits_per_raw_sample = spec.bits_per_raw_sample;
    if (spec.bit_rate > 0) {
        enc->bit_rate = spec.bit_rate;
    }
    enc->time_base = AVRational{1, spec.sample_rate_hz};
    enc->thread_count = 1;
    if ((out->oformat->flags & AVFMT_GLOBALHEADER) != 0) {
        enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    }
    err = avcodec_open2(enc.get(), codec, nullptr);
    if (err < 0) {
        return fail(path, "open encoder " + spec.codec, err);
    }

    AVStream* stream = avformat_new_stream(out.get(), nullptr);
    if (stream == nullptr) {
        return fail(path, "new stream", AVERROR(ENOMEM));
    }
    err = avcodec_parameters_from_context(stream->codecpar, enc.get());
    if (err < 0) {
        return fail(path, "stream parameters", err);
    }
    stream->time_base = enc->time_base;
    AVDictionary** tags = spec.tags_on_stream ? &stream->metadata : &out->metadata;
    if (!spec.title.empty()) {
        av_dict_set(tags, "title", spec.title.c_str(), 0);
    }
    if (!spec.artist.empty()) {
        av_dict_set(tags, "artist", spec.artist.c_str(), 0);
    }

    err = avio_open(&out->pb, file.c_str(), AVIO_FLAG_WRITE);
    if (err < 0) {
        return fail(path, "open for writing", err);
    }
    err = avformat_write_header(out.get(), nullptr);
    if (err < 0) {
        return fail(path, "write header", err);
    }

    const bool variable = (codec->capabilities & AV_CODEC_CAP_VARIABLE_FRAME_SIZE) != 0;
    const int frame_size = (enc->frame_size > 0 && !variable) ? enc->frame_size : 4096;
    std::unique_ptr<AVFrame, FrameFreer> frame(av_frame_alloc());
    std::unique_ptr<AVPacket, PacketFreer> packet(av_packet_alloc());
    frame->nb_samples = frame_size;
    frame->format = enc->sample_fmt;
    frame->sample_rate = enc->sample_rate;
    av_channel_layout_copy(&frame->ch_layout, &enc->ch_layout);
    err = av_frame_get_buffer(frame.get(), 0);
    if (err < 0) {
        return fail(path, "frame buffer", err);
    }

    const AVSampleFormat packed = av_get_packed_sample_fmt(enc->sample_fmt);
    const bool planar = av_sample_fmt_is_planar(enc->sample_fmt) != 0;
    const int bytes = av_get_bytes_per_sample(enc->sample_fmt);
    const int channels = spec.channels;

    auto drain = [&]() -> Status {
        for (;;) {
            const int got = avcodec_receive_packet(enc.get(), packet.get());
            if (got == AVERROR(EAGAIN) || got == AVERROR_EOF) {
                return ok_status();
            }
            if (got < 0) {
                return fail(path, "encode", got);
            }
            packet->stream_index = stream->index;
            av_packet_rescale_ts(packet.get(), enc->time_base, stream->time_base);
            const int written = av_interleaved_write_frame(out.get(), packet.get());
            if (written < 0) {
                return fail(path, "write packet", written);
            }
        }
    };

    for (std::int64_t start = 0; start < n_frames; start += frame_size) {
        err = av_frame_make_writable(frame.get());
        if (err < 0) {
            return fail(path, "frame writable", err);
        }
        const int n = static_cast<int>(std::min<std::int64_t>(frame_size, n_frames - start));
        frame->nb_samples = n;
        frame->pts = start;
        for (int i = 0; i < n; ++i) {
            for (int c = 0; c < channels; ++c) {
                std::uint8_t* dst =
                    planar ? frame->extended_data[c] + static_cast<std::ptrdiff_t>(i) * bytes
                           : frame->extended_data[0] +
                                 static_cast<std::ptrdiff_t>(i * channels + c) * bytes;
                store_sample(packed, spec.bits_per_raw_sample, signal(c, start + i), dst);
            }
        }
        err = avcodec_send_frame(enc.get(), frame.get());
        if (err < 0) {
            return fail(path, "send frame", err);
        }
        EARSHOT_RETURN_IF_ERROR(drain());
    }
    err = avcodec_send_frame(enc.get(), nullptr);
    if (err < 0) {
        return fail(path, "flush encoder", err);
    }
    EARSHOT_RETURN_IF_ERROR(drain());
    err = av_write_trailer(out.get());
    if (err < 0) {
        return fail(path, "write trailer", err);
    }
    return ok_status();
}

Status encode_fixture(const std::filesystem::path& path,
                      const FixtureSpec& spec,
                      const std::vector<std::vector<float>>& channels) {
    if (static_cast<int>(channels.size()) != spec.channels || channels.empty()) {
        return make_error(ErrorCode::kInvalidArgument, "channel vectors do not match spec");
    }
    const auto n = static_cast<std::int64_t>(channels[0].size());
    return encode_fixture(path, spec, n, [&channels](int c, std::int64_t i) {
        return channels[static_cast<std::size_t>(c)][static_cast<std::size_t>(i)];
    });
}

Status encode_sine_fixture(const std::filesystem::path& path,
                           const FixtureSpec& spec,
                           double freq_hz,
                           double duration_s,
                           float amplitude) {
    const auto n = static_cast<std::int64_t>(std::llround(duration_s * spec.sample_rate_hz));
    const double w = 2.0 * M_PI * freq_hz / spec.sample_rate_hz;
    return encode_fixture(path, spec, n, [amplitude, w](int, std::int64_t i) {
        return amplitude * static_cast<float>(std::sin(w * static_cast<double>(i)));
    });
}

}  // namespace earshot::testing
