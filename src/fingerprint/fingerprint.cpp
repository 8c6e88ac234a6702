#include "fingerprint/fingerprint.h"

#include <algorithm>
#include <bit>
#include <chromaprint.h>
#include <cmath>
#include <complex>
#include <cstring>
#include <memory>
#include <numbers>

#include <fmt/format.h>

#include "audio/resampler.h"

namespace earshot {
namespace {

constexpr std::size_t kFrameSize = 2048;  // signature STFT frame (186 ms at 11025 Hz)
constexpr std::size_t kHop = 512;
constexpr std::size_t kLevelHop = 256;  // frame of the onset / sounding-length levels
constexpr double kLowestBandHz = 110.0;
constexpr double kOnsetDb = 30.0;     // onset: first level frame within this of the loudest
constexpr double kSoundingDb = 40.0;  // sounding end: last level frame within this
constexpr double kFloorDb = 40.0;     // signature floor under its loudest cell
constexpr int kMaxLag = 2;            // signature lags tried, in frames
constexpr char kMagic[4] = {'E', 'F', 'P', '1'};

struct ChromaprintDeleter {
    void operator()(ChromaprintContext* ctx) const { chromaprint_free(ctx); }
};

Result<std::vector<std::uint32_t>> chromaprint_words(std::span<const float> x) {
    std::unique_ptr<ChromaprintContext, ChromaprintDeleter> ctx(
        chromaprint_new(CHROMAPRINT_ALGORITHM_DEFAULT));
    if (!ctx || chromaprint_start(ctx.get(), kFingerprintRateHz, 1) != 1)
        return make_error(ErrorCode::kInternal, "chromaprint_start failed");
    std::vector<std::int16_t> pcm(std::min<std::size_t>(x.size(), 1 << 16));
    for (std::size_t at = 0; at < x.size(); at += pcm.size()) {
        const std::size_t n = std::min(pcm.size(), x.size() - at);
        for (std::size_t i = 0; i < n; ++i) {
            const float v = std::clamp(x[at + i], -1.0f, 1.0f) * 32767.0f;
            pcm[i] = static_cast<std::int16_t>(std::lround(v));
        }
        if (chromaprint_feed(ctx.get(), pcm.data(), static_cast<int>(n)) != 1)
            return make_error(ErrorCode::kInternal, "chromaprint_feed failed");
    }
    if (chromaprint_finish(ctx.get()) != 1)
        return make_error(ErrorCode::kInternal, "chromaprint_finish failed");
    std::uint32_t* raw = nullptr;
    int size = 0;
    if (chromaprint_get_raw_fingerprint(ctx.get(), &raw, &size) != 1) {
        // Too little audio for a single word: an empty fingerprint, not an error.
        return std::vector<std::uint32_t>{};
    }
    std::vector<std::uint32_t> words(raw, raw + std::max(size, 0));
    chromaprint_dealloc(raw);
    return words;
}

// In-place iterative radix-2 FFT. REQUIRES: a.size() is a power of two.
void fft(std::vector<std::complex<float>>& a) {
    const std::size_t n = a.size();
    for (std::size_t i = 1, j = 0; i < n; ++i) {
        std::size_t bit = n >> 1;
        for (; j & bit; bit >>= 1) j ^= bit;
        j ^= bit;
        if (i < j)
            std::swap(a[i], a[j]);
    }
    for (std::size_t len = 2; len <= n; len <<= 1) {
        const double ang = -2.0 * std::numbers::pi / static_cast<double>(len);
        const std::complex<float> wl(static_cast<float>(std::cos(ang)),
                                     static_cast<float>(std::sin(ang)));
        for (std::size_t i = 0; i < n; i += len) {
            std::complex<float> w(1.0f, 0.0f);
            for (std::size_t k = 0; k < len / 2; ++k) {
                const auto u = a[i + k];
                const auto v = a[i + k + len / 2] * w;
                a[i + k] = u + v;
                a[i + k + len / 2] = u - v;
                w *= wl;
            }
        }
    }
}

// Band of each FFT bin (-1: outside 110 Hz .. the top band), nearest semitone.
const std::vector<int>& bin_bands() {
    static const std::vector<int> bands = [] {
        std::vector<int> b(kFrameSize / 2 + 1, -1);
        for (std::size_t k = 1; k < b.size(); ++k) {
            const double hz = static_cast<double>(k) * kFingerprintRateHz / kFrameSize;
            const double semis = 12.0 * std::log2(hz / kLowestBandHz);
            const long band = std::lround(semis);
            if (band >= 0 && band < kSignatureBands)
                b[k] = static_cast<int>(band);
        }
        return b;
    }();
    return bands;
}

// Level (dB) of each kLevelHop frame.
std::vector<double> frame_levels_db(std::span<const float> x) {
    std::vector<double> out;
    for (std::size_t at = 0; at + kLevelHop <= x.size() || (at == 0 && !x.empty());
         at += kLevelHop) {
        const std::size_t n = std::min(kLevelHop, x.size() - at);
        double e = 0.0;
        for (std::size_t i = 0; i < n; ++i) e += static_cast<double>(x[at + i]) * x[at + i];
        out.push_back(10.0 * std::log10(e / static_cast<double>(n) + 1e-20));
    }
    return out;
}

void compute_signature(std::span<const float> x, Fingerprint& fp) {
    const auto levels = frame_levels_db(x);
    if (levels.empty())
        return;
    const double loudest = *std::max_element(levels.begin(), levels.end());
    if (loudest < -100.0)
        return;  // digital silence: no signature
    std::size_t first = 0;
    while (levels[first] < loudest - kOnsetDb) ++first;
    std::size_t last = levels.size() - 1;
    while (levels[last] < loudest - kSoundingDb) --last;
    const double rate = kFingerprintRateHz;
    fp.onset_s = static_cast<double>(first * kLevelHop) / rate;
    fp.sounding_s = static_cast<double>((last + 1 - first) * kLevelHop) / rate;

    const std::size_t begin = first * kLevelHop;
    const auto max_frames = static_cast<std::size_t>(kSignatureMaxS / kSignatureHopS);
    const std::size_t avail = x.size() - begin;
    std::size_t n_frames = avail <= kFrameSize ? 1 : 1 + (avail - kFrameSize + kHop - 1) / kHop;
    n_frames = std::min(n_frames, max_frames);
    const auto& bands = bin_bands();
    std::vector<float> window(kFrameSize);
    for (std::size_t i = 0; i < kFrameSize; ++i) {
        window[i] = static_cast<float>(
            0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * static_cast<double>(i) / kFrameSize));
    }
    std::vector<float> sig(n_frames * kSignatureBands, 0.0f);
    std::vector<std::complex<float>> buf(kFrameSize);
    for (std::size_t f = 0; f < n_frames; ++f) {
        const std::size_t at = begin + f * kHop;
        for (std::size_t i = 0; i < kFrameSize; ++i) {
            const float v = at + i < x.size() ? x[at + i] : 0.0f;
            buf[i] = {v * window[i], 0.0f};
        }
        fft(buf);
        float* row = sig.data() + f * kSignatureBands;
        for (std::size_t k = 0; k < bands.size(); ++k) {
            if (bands[k] >= 0)
                row[bands[k]] += std::norm(buf[k]);
        }
    }
    float top = -1000.0f;
    for (auto& v : sig) {
        v = 10.0f * std::log10(v + 1e-12f);
        top = std::max(top, v);
    }
    for (auto& v : sig) v = std::max(v, top - static_cast<float>(kFloorDb));
    fp.signature = std::move(sig);
}

template <typename T>
void put_le(std::vector<std::uint8_t>& out, T v) {
    std::uint8_t b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    if constexpr (std::endian::native == std::endian::big)
        std::reverse(std::begin(b), std::end(b));
    out.insert(out.end(), std::begin(b), std::end(b));
}

template <typename T>
bool get_le(std::span<const std::uint8_t>& in, T& v) {
    if (in.size() < sizeof(T))
        return false;
    std::uint8_t b[sizeof(T)];
    std::memcpy(b, in.data(), sizeof(T));
    if constexpr (std::endian::native == std::endian::big)
        std::reverse(std::begin(b), std::end(b));
    std::memcpy(&v, b, sizeof(T));
    in = in.subspan(sizeof(T));
    return true;
}

// Pearson correlation of two n_frames × kSignatureBands blocks after removing each band's mean.
double detail_correlation(const float* pa, const float* pb, std::size_t n_frames) {
    std::vector<double> ma(kSignatureBands, 0.0), mb(kSignatureBands, 0.0);
    for (std::size_t f = 0; f < n_frames; ++f) {
        for (int k = 0; k < kSignatureBands; ++k) {
            ma[k] += pa[f * kSignatureBands + k];
            mb[k] += pb[f * kSignatureBands + k];
        }
    }
    for (int k = 0; k < kSignatureBands; ++k) {
        ma[k] /= static_cast<double>(n_frames);
        mb[k] /= static_cast<double>(n_frames);
    }
    double sab = 0, saa = 0, sbb = 0;
    for (std::size_t f = 0; f < n_frames; ++f) {
        for (int k = 0; k < kSignatureBands; ++k) {
            const double da = pa[f * kSignatureBands + k] - ma[k];
            const double db = pb[f * kSignatureBands + k] - mb[k];
            sab += da * db;
            saa += da * da;
            sbb += db * db;
        }
    }
    return saa > 0 && sbb > 0 ? sab / std::sqrt(saa * sbb) : 0.0;
}

}  // namespace

Result<Fingerprint> compute_fingerprint(std::span<const float> samples, int sample_rate_hz) {
    if (sample_rate_hz < 1000 || sample_rate_hz > 384000) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("sample rate {} Hz is outside 1000..384000", sample_rate_hz));
    }
    if (samples.empty())
        return make_error(ErrorCode::kInvalidArgument, "no samples to fingerprint");
    EARSHOT_ASSIGN_OR_RETURN(auto x, resample(samples, sample_rate_hz, kFingerprintRateHz));
    Fingerprint fp;
    fp.duration_s = static_cast<double>(samples.size()) / sample_rate_hz;
    EARSHOT_ASSIGN_OR_RETURN(fp.chromaprint, chromaprint_words(x));
    compute_signature(x, fp);
    return fp;
}

std::vector<std::uint8_t> encode_fingerprint(const Fingerprint& fp) {
    std::vector<std::uint8_t> out(std::begin(kMagic), std::end(kMagic));
    put_le<std::int32_t>(out, fp.version);
    put_le<double>(out, fp.duration_s);
    put_le<double>(out, fp.onset_s);
    put_le<double>(out, fp.sounding_s);
    put_le<std::uint32_t>(out, static_cast<std::uint32_t>(fp.chromaprint.size()));
    for (auto w : fp.chromaprint) put_le<std::uint32_t>(out, w);
    const auto n_frames = static_cast<std::uint32_t>(fp.n_signature_frames());
    put_le<std::uint32_t>(out, n_frames);
    // dB relative to the loudest cell, in steps of 0.5 dB: 0 .. -40 fits an int8.
    float top = -1000.0f;
    for (float v : fp.signature) top = std::max(top, v);
    put_le<float>(out, n_frames ? top : 0.0f);
    for (std::size_t i = 0; i < static_cast<std::size_t>(n_frames) * kSignatureBands; ++i) {
        const long q = std::lround((fp.signature[i] - top) * 2.0f);
        out.push_back(
            static_cast<std::uint8_t>(static_cast<std::int8_t>(std::clamp(q, -128L, 0L))));
    }
    return out;
}

Result<Fingerprint> decode_fingerprint(std::span<const std::uint8_t> bytes) {
    auto bad = [](const char* what) {
        return make_error(ErrorCode::kCorruption, fmt::format("fingerprint: {}", what));
    };
    if (bytes.size() < 4 || std::memcmp(bytes.data(), kMagic, 4) != 0)
        return bad("bad magic");
    bytes = bytes.subspan(4);
    Fingerprint fp;
    std::int32_t version = 0;
    std::uint32_t n_words = 0;
    if (!get_le(bytes, version) || !get_le(bytes, fp.duration_s) || !get_le(bytes, fp.onset_s) ||
        !get_le(bytes, fp.sounding_s) || !get_le(bytes, n_words)) {
        return bad("truncated header");
    }
    fp.version = version;
    if (bytes.size() / 4 < n_words)
        return bad("truncated Chromaprint words");
    fp.chromaprint.resize(n_words);
    for (auto& w : fp.chromaprint) get_le(bytes, w);
    std::uint32_t n_frames = 0;
    float top = 0.0f;
    if (!get_le(bytes, n_frames) || !get_le(bytes, top))
        return bad("truncated signature header");
    if (bytes.size() != static_cast<std::size_t>(n_frames) * kSignatureBands)
        return bad("signature size does not match its frame count");
    fp.signature.resize(bytes.size());
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        fp.signature[i] = top + static_cast<float>(static_cast<std::int8_t>(bytes[i])) * 0.5f;
    }
    if (!std::isfinite(fp.duration_s) || !std::isfinite(fp.onset_s) ||
        !std::isfinite(fp.sounding_s) || !std::isfinite(top)) {
        return bad("non-finite header value");
    }
    return fp;
}

ChromaprintMatch compare_chromaprint(std::span<const std::uint32_t> a,
                                     std::span<const std::uint32_t> b,
                                     std::size_t min_overlap_words) {
    ChromaprintMatch best;
    if (a.empty() || b.empty())
        return best;
    const auto na = static_cast<std::ptrdiff_t>(a.size());
    const auto nb = static_cast<std::ptrdiff_t>(b.size());
    const auto min_overlap = static_cast<std::ptrdiff_t>(
        std::max<std::size_t>(min_overlap_words, std::min(a.size(), b.size()) / 2));
    if (std::min(na, nb) < min_overlap)
        return best;
    // a[i] against b[i - o], o = offset in words.
    for (std::ptrdiff_t o = -(nb - min_overlap); o <= na - min_overlap; ++o) {
        const std::ptrdiff_t i0 = std::max<std::ptrdiff_t>(0, o);
        const std::ptrdiff_t i1 = std::min(na, nb + o);
        const std::ptrdiff_t overlap = i1 - i0;
        if (overlap < min_overlap)
            continue;
        std::int64_t errors = 0;
        for (std::ptrdiff_t i = i0; i < i1; ++i) errors += std::popcount(a[i] ^ b[i - o]);
        const double agree =
            1.0 - static_cast<double>(errors) / (32.0 * static_cast<double>(overlap));
        if (agree > best.bit_agreement) {
            best.bit_agreement = agree;
            best.offset_s = static_cast<double>(o) * kChromaprintItemS;
            best.overlap_s = static_cast<double>(overlap) * kChromaprintItemS;
        }
    }
    return best;
}

SignatureMatch compare_signatures(const Fingerprint& a, const Fingerprint& b) {
    SignatureMatch best;
    const auto na = static_cast<int>(a.n_signature_frames());
    const auto nb = static_cast<int>(b.n_signature_frames());
    if (na == 0 || nb == 0)
        return best;
    best.correlation = -1.0;
    for (int lag = -kMaxLag; lag <= kMaxLag; ++lag) {
        // frame i of a against frame i - lag of b
        const int i0 = std::max(0, lag);
        const int i1 = std::min(na, nb + lag);
        if (i1 - i0 < std::max(1, std::min(na, nb) - kMaxLag))
            continue;
        const std::size_t n = static_cast<std::size_t>(i1 - i0) * kSignatureBands;
        const float* pa = a.signature.data() + static_cast<std::size_t>(i0) * kSignatureBands;
        const float* pb = b.signature.data() + static_cast<std::size_t>(i0 - lag) * kSignatureBands;
        double ma = 0, mb = 0;
        for (std::size_t i = 0; i < n; ++i) {
            ma += pa[i];
            mb += pb[i];
        }
        ma /= static_cast<double>(n);
        mb /= static_cast<double>(n);
        double sab = 0, saa = 0, sbb = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const double da = pa[i] - ma, db = pb[i] - mb;
            sab += da * db;
            saa += da * da;
            sbb += db * db;
        }
        const double r = saa > 0 && sbb > 0 ? sab / std::sqrt(saa * sbb) : 0.0;
        if (r > best.correlation) {
            best.correlation = r;
            best.offset_s = a.onset_s - b.onset_s + lag * kSignatureHopS;
            best.detail_correlation = detail_correlation(pa, pb, static_cast<std::size_t>(i1 - i0));
        }
    }
    best.correlation = std::max(best.correlation, 0.0);
    return best;
}

SameRecording same_recording(const Fingerprint& a,
                             const Fingerprint& b,
                             double embedding_distance,
                             const SameRecordingOptions& options) {
    SameRecording out;
    constexpr std::size_t kMinWords = 16;
    if (std::min(a.sounding_s, b.sounding_s) >= kShortSoundS &&
        std::min(a.chromaprint.size(), b.chromaprint.size()) >= kMinWords) {
        auto m = compare_chromaprint(a.chromaprint, b.chromaprint, kMinWords);
        out.by_chromaprint = true;
        out.similarity = m.bit_agreement;
        out.offset_s = m.offset_s;
        out.same = m.bit_agreement >= options.min_bit_agreement;
        return out;
    }
    auto m = compare_signatures(a, b);
    out.similarity = m.correlation;
    out.offset_s = m.offset_s;
    const double shorter = std::min(a.sounding_s, b.sounding_s);
    const double longer = std::max(a.sounding_s, b.sounding_s);
    const bool durations_agree =
        shorter > 0 && longer <= shorter * options.max_sounding_ratio + 0.05;
    out.same = m.correlation >= options.min_correlation &&
               m.detail_correlation >= options.min_detail_correlation && durations_agree &&
               embedding_distance >= 0 && embedding_distance <= options.max_embedding_distance;
    return out;
}

}  // namespace earshot
