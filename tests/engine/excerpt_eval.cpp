// earshot_excerpt_eval: the segment-search experiment of docs/models.md ("Where it matched").
// Indexes a folder (default ../shared/datasets/game_music) into a scratch catalog, cuts one 4 s
// excerpt at a random offset (seeded) from every file, in three versions (clean 16-bit WAV, 64 kb/s
// MP3, pink noise at 10 dB SNR), searches each against the whole folder by segments and by whole
// items, and prints: the share of queries whose source file is at rank 1, and (segments) the
// median |time error| of the match's item start against the true offset.
//   earshot_excerpt_eval [FOLDER] [--model mn04] [--seed 1] [--db scratch.earshot] [--keep]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "../audio/encode_fixture.h"
#include "audio/decoder.h"
#include "engine/engine.h"
#include "test_support.h"

namespace fs = std::filesystem;
using namespace earshot;

namespace {

// Pink noise (Paul Kellet's refined filter over white noise), unit RMS after scaling.
std::vector<float> pink_noise(std::size_t n, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> g(0.0, 1.0);
    double b0 = 0, b1 = 0, b2 = 0, b3 = 0, b4 = 0, b5 = 0, b6 = 0;
    std::vector<float> out(n);
    double sum2 = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const double w = g(rng);
        b0 = 0.99886 * b0 + w * 0.0555179;
        b1 = 0.99332 * b1 + w * 0.0750759;
        b2 = 0.96900 * b2 + w * 0.1538520;
        b3 = 0.86650 * b3 + w * 0.3104856;
        b4 = 0.55000 * b4 + w * 0.5329522;
        b5 = -0.7616 * b5 - w * 0.0168980;
        const double p = b0 + b1 + b2 + b3 + b4 + b5 + b6 + w * 0.5362;
        b6 = w * 0.115926;
        out[i] = static_cast<float>(p);
        sum2 += p * p;
    }
    const double rms = std::sqrt(sum2 / static_cast<double>(std::max<std::size_t>(1, n)));
    for (auto& v : out) v = static_cast<float>(v / rms);
    return out;
}

double rms(const std::vector<float>& x) {
    double s = 0;
    for (float v : x) s += double(v) * v;
    return std::sqrt(s / static_cast<double>(std::max<std::size_t>(1, x.size())));
}

double median(std::vector<double> v) {
    if (v.empty())
        return NAN;
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

struct Tally {
    int queries = 0;
    int seg_rank1 = 0;
    int item_rank1 = 0;
    std::vector<double> time_errors_s;  // rank-1 correct segment hits
};

}  // namespace

int main(int argc, char** argv) {
    fs::path folder = earshot::testing::datasets_dir() / "game_music";
    std::string model = "mn04";
    std::uint32_t seed = 1;
    fs::path db;
    bool keep = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
        if (a == "--model")
            model = next();
        else if (a == "--seed")
            seed = static_cast<std::uint32_t>(std::stoul(next()));
        else if (a == "--db")
            db = next();
        else if (a == "--keep")
            keep = true;
        else
            folder = a;
    }
    earshot::testing::TempDir tmp;
    if (db.empty())
        db = tmp / "scratch.earshot";
    EngineOptions eo;
    eo.db_path = db;
    eo.create_if_missing = true;
    auto engine = Engine::open(eo);
    if (!engine) {
        fmt::print(stderr, "{}\n", engine.error().to_string());
        return 1;
    }
    IndexOptions io;
    io.paths = {folder};
    io.model = model;
    auto report = (*engine)->index(io);
    if (!report) {
        fmt::print(stderr, "{}\n", report.error().to_string());
        return 1;
    }
    fmt::print(stderr, "indexed {} files ({} new) in {:.1f} s\n", report->counts.total,
               report->counts.added, report->elapsed_s);
    auto items = (*engine)->catalog().list_items(0, -1);
    if (!items)
        return 1;

    const char* kConditions[] = {"clean", "mp3-64k", "pink-10dB"};
    Tally tally[3];
    std::mt19937 rng(seed);
    constexpr double kExcerptS = 4.0;
    for (const auto& item : *items) {
        if (item.duration_s < kExcerptS + 0.5)
            continue;
        DecodeOptions dopts;
        dopts.target_sample_rate_hz = 44100;
        auto audio = decode_audio(item.path, dopts);
        if (!audio) {
            fmt::print(stderr, "skipped {}: {}\n", item.path, audio.error().message());
            continue;
        }
        const double max_start = static_cast<double>(audio->samples.size()) / 44100.0 - kExcerptS;
        const double start_s = std::uniform_real_distribution<double>(0.0, max_start)(rng);
        const auto begin = static_cast<std::size_t>(start_s * 44100.0);
        std::vector<float> cut(audio->samples.begin() + static_cast<std::ptrdiff_t>(begin),
                               audio->samples.begin() + static_cast<std::ptrdiff_t>(begin) +
                                   static_cast<std::ptrdiff_t>(kExcerptS * 44100));
        for (int c = 0; c < 3; ++c) {
            fs::path q;
            std::vector<float> x = cut;
            earshot::testing::FixtureSpec spec;
            spec.sample_rate_hz = 44100;
            if (c == 1) {
                spec.container = "mp3";
                spec.codec = "libmp3lame";
                spec.bit_rate = 64000;
                q = tmp / "q.mp3";
            } else {
                if (c == 2) {
                    auto noise =
                        pink_noise(x.size(), seed * 7919u + static_cast<std::uint32_t>(item.id));
                    const double gain = rms(x) / std::pow(10.0, 10.0 / 20.0);
                    for (std::size_t i = 0; i < x.size(); ++i)
                        x[i] = std::clamp(x[i] + static_cast<float>(gain * noise[i]), -1.0f, 1.0f);
                }
                spec.container = "wav";
                spec.codec = "pcm_s16le";
                q = tmp / "q.wav";
            }
            auto written = earshot::testing::encode_fixture(q, spec, {x});
            if (!written) {
                fmt::print(stderr, "encode: {}\n", written.error().to_string());
                return 1;
            }
            SearchRequest req;
            req.model = model;
            req.k = 10;
            req.by = SearchBy::kSegments;
            auto seg = (*engine)->search_file(q, req);
            req.by = SearchBy::kItems;
            auto whole = (*engine)->search_file(q, req);
            if (!seg || !whole) {
                fmt::print(stderr, "search: {}\n",
                           (!seg ? seg.error() : whole.error()).to_string());
                return 1;
            }
            Tally& t = tally[c];
            t.queries++;
            if (!seg->results.empty() && seg->results[0].id == item.id) {
                t.seg_rank1++;
                t.time_errors_s.push_back(std::abs(seg->results[0].match->item_start_s -
                                                   seg->results[0].match->query_start_s - start_s));
            }
            if (!whole->results.empty() && whole->results[0].id == item.id)
                t.item_rank1++;
        }
    }
    fmt::print("model {}, {} files, {} s excerpts, seed {}\n\n", model, items->size(), kExcerptS,
               seed);
    fmt::print(
        "| query | n | segments: rank-1 | segments: median abs time error (s) | "
        "whole-file: rank-1 |\n|---|---|---|---|---|\n");
    for (int c = 0; c < 3; ++c) {
        const auto& t = tally[c];
        fmt::print("| {} | {} | {:.3f} | {:.2f} | {:.3f} |\n", kConditions[c], t.queries,
                   double(t.seg_rank1) / std::max(1, t.queries), median(t.time_errors_s),
                   double(t.item_rank1) / std::max(1, t.queries));
    }
    if (keep)
        fmt::print(stderr, "catalog kept at {}\n", db.string());
    return 0;
}
