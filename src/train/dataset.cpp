#include "train/dataset.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "audio/decoder.h"
#include "audio/trim.h"
#include "core/csv.h"
#include "core/file_util.h"
#include "core/thread_pool.h"

namespace earshot {
namespace {

namespace fs = std::filesystem;

std::string trim(std::string s) {
    auto not_space = [](unsigned char c) { return std::isspace(c) == 0; };
    s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
    s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
    return s;
}

bool parse_double(const std::string& s, double& out) {
    const std::string t = trim(s);
    if (t.empty())
        return false;
    std::istringstream in(t);
    in.imbue(std::locale::classic());
    in >> out;
    return !in.fail() && in.eof() && std::isfinite(out);
}

// The rows of a CSV file (core/csv.h) with '#' comment lines; the separator is a tab if the first
// row has one and tab_or_comma, else ','.
Result<std::vector<CsvRow>> read_rows(const fs::path& path, const char* what, bool tab_or_comma) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec))
        return make_error(ErrorCode::kNotFound,
                          fmt::format("{} {} not found", what, path.string()));
    EARSHOT_ASSIGN_OR_RETURN(std::string text, read_file_text(path));
    CsvOptions options;
    options.comments = true;
    if (tab_or_comma) {
        std::istringstream in(text);
        std::string line;
        while (std::getline(in, line)) {
            const std::string t = trim(line);
            if (t.empty() || t[0] == '#')
                continue;
            if (line.find('\t') != std::string::npos)
                options.separator = '\t';
            break;
        }
    }
    return parse_csv(text, path.string(), options);
}

}  // namespace

Result<ImageSet> compute_excerpt_images(
    const std::vector<fs::path>& files,
    const ExcerptImageConfig& config,
    int threads,
    const std::function<void(std::size_t, std::size_t)>& on_file,
    double max_decode_s) {
    ExcerptImageConfig c = config;
    c.mean = 0.0f;
    c.std = 1.0f;
    EARSHOT_ASSIGN_OR_RETURN(auto imager, ExcerptImager::make(c));
    std::vector<Matrix> images(files.size());
    std::vector<std::string> errors(files.size());
    std::atomic<std::size_t> done{0};
    parallel_for(files.size(), threads, 1, [&](std::size_t begin, std::size_t end) {
        for (std::size_t i = begin; i < end; ++i) {
            DecodeOptions opts;
            opts.target_sample_rate_hz = c.frontend.sample_rate_hz;
            opts.max_duration_s = max_decode_s;
            auto audio = decode_audio(files[i], opts);
            if (!audio) {
                errors[i] = files[i].string() + ": " + audio.error().message();
            } else {
                auto range = non_silent_range(audio->samples);
                std::span<const float> content(audio->samples.data() + range.begin,
                                               audio->samples.size() - range.begin);
                auto image = imager->compute(content);
                if (image)
                    images[i] = std::move(*image);
                else
                    errors[i] = files[i].string() + ": " + image.error().message();
            }
            const std::size_t n = ++done;
            if (on_file)
                on_file(n, files.size());
        }
    });
    ImageSet set;
    for (std::size_t i = 0; i < files.size(); ++i) {
        if (!errors[i].empty()) {
            set.failures.push_back(std::move(errors[i]));
            continue;
        }
        set.images.push_back(std::move(images[i]));
        set.sources.push_back(i);
    }
    return set;
}

std::pair<float, float> image_stats(const std::vector<Matrix>& images) {
    double sum = 0.0, sum_sq = 0.0;
    std::size_t n = 0;
    for (const auto& m : images) {
        for (float v : m.data) {
            sum += v;
            sum_sq += static_cast<double>(v) * v;
        }
        n += m.data.size();
    }
    if (n == 0)
        return {0.0f, 1.0f};
    const double mean = sum / static_cast<double>(n);
    const double var = std::max(0.0, sum_sq / static_cast<double>(n) - mean * mean);
    const double std = std::sqrt(var);
    return {static_cast<float>(mean), static_cast<float>(std > 1e-6 ? std : 1.0)};
}

std::vector<bool> split_by_group(const std::vector<std::string>& groups,
                                 double fraction,
                                 std::uint64_t seed) {
    const std::set<std::string> unique(groups.begin(), groups.end());
    std::vector<std::string> distinct(unique.begin(), unique.end());
    std::mt19937_64 rng(seed);
    std::shuffle(distinct.begin(), distinct.end(), rng);
    std::size_t n_val = 0;
    if (fraction > 0.0 && distinct.size() >= 2) {
        n_val =
            static_cast<std::size_t>(std::lround(fraction * static_cast<double>(distinct.size())));
        n_val = std::clamp<std::size_t>(n_val, 1, distinct.size() - 1);
    }
    std::unordered_set<std::string> val(distinct.begin(),
                                        distinct.begin() + static_cast<std::ptrdiff_t>(n_val));
    std::vector<bool> out(groups.size());
    for (std::size_t i = 0; i < groups.size(); ++i) out[i] = val.count(groups[i]) > 0;
    return out;
}

Result<std::vector<PairTarget>> read_pairs_file(const fs::path& path) {
    EARSHOT_ASSIGN_OR_RETURN(auto lines, read_rows(path, "pairs file", false));
    const fs::path folder = path.parent_path();
    std::vector<PairTarget> pairs;
    for (std::size_t k = 0; k < lines.size(); ++k) {
        const std::size_t number = lines[k].line;
        const auto& f = lines[k].fields;
        auto where = [&, n = number] { return fmt::format("{}:{}", path.string(), n); };
        if (f.size() != 3) {
            return make_error(
                ErrorCode::kInvalidArgument,
                fmt::format("{}: expected 3 fields `a,b,score`, got {}", where(), f.size()));
        }
        if (k == 0 && trim(f[0]) == "a" && trim(f[1]) == "b" && trim(f[2]) == "score")
            continue;  // header
        double score = 0.0;
        if (!parse_double(f[2], score)) {
            return make_error(ErrorCode::kInvalidArgument,
                              fmt::format("{}: score '{}' is not a number", where(), trim(f[2])));
        }
        if (score < 0.0 || score > 1.0) {
            return make_error(ErrorCode::kInvalidArgument,
                              fmt::format("{}: score {} is outside [0, 1]", where(), score));
        }
        if (trim(f[0]).empty() || trim(f[1]).empty())
            return make_error(ErrorCode::kInvalidArgument, where() + ": empty path");
        pairs.push_back({folder / trim(f[0]), folder / trim(f[1]), static_cast<float>(score)});
    }
    if (pairs.empty()) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("pairs file {} has no `a,b,score` rows", path.string()));
    }
    return pairs;
}

Result<std::vector<ListeningRow>> read_listening_log(const fs::path& path) {
    EARSHOT_ASSIGN_OR_RETURN(auto lines, read_rows(path, "listening log", true));
    if (lines.empty()) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("listening log {} is empty", path.string()));
    }
    std::vector<ListeningRow> rows;
    for (std::size_t k = 0; k < lines.size(); ++k) {
        const std::size_t number = lines[k].line;
        const auto& f = lines[k].fields;
        if (f.size() < 3) {
            return make_error(ErrorCode::kInvalidArgument,
                              fmt::format("{}:{}: expected `user,artist,plays`, got {} field(s)",
                                          path.string(), number, f.size()));
        }
        double plays = 0.0;
        if (!parse_double(f[2], plays)) {
            if (k == 0)
                continue;  // header
            return make_error(ErrorCode::kInvalidArgument,
                              fmt::format("{}:{}: plays '{}' is not a number", path.string(),
                                          number, trim(f[2])));
        }
        rows.push_back({trim(f[0]), trim(f[1]), plays});
    }
    return rows;
}

std::map<std::pair<std::string, std::string>, float> artist_pair_scores(
    const std::vector<ListeningRow>& rows, const std::vector<std::string>& artists_in) {
    std::map<std::string, std::set<std::string>> listeners;  // artist -> users
    for (const auto& r : rows) {
        if (r.plays > 0.0)
            listeners[r.artist].insert(r.user);
    }
    std::vector<std::string> artists = artists_in;
    if (artists.empty()) {
        std::set<std::string> all;
        for (const auto& r : rows) all.insert(r.artist);
        artists.assign(all.begin(), all.end());
    }
    std::sort(artists.begin(), artists.end());
    artists.erase(std::unique(artists.begin(), artists.end()), artists.end());
    std::map<std::pair<std::string, std::string>, double> raw;
    double max_raw = 0.0;
    static const std::set<std::string> kNone;
    for (std::size_t i = 0; i < artists.size(); ++i) {
        auto it_a = listeners.find(artists[i]);
        const auto& la = it_a == listeners.end() ? kNone : it_a->second;
        for (std::size_t j = i + 1; j < artists.size(); ++j) {
            auto it_b = listeners.find(artists[j]);
            const auto& lb = it_b == listeners.end() ? kNone : it_b->second;
            double r = 0.0;
            if (!la.empty() && !lb.empty()) {
                std::size_t co = 0;
                for (const auto& u : la) co += lb.count(u);
                r = static_cast<double>(co) /
                    std::sqrt(static_cast<double>(la.size()) * static_cast<double>(lb.size()));
            }
            raw[{artists[i], artists[j]}] = r;
            max_raw = std::max(max_raw, r);
        }
    }
    std::map<std::pair<std::string, std::string>, float> out;
    for (const auto& [key, r] : raw)
        out[key] = max_raw > 0.0 ? static_cast<float>(r / max_raw) : 0.0f;
    return out;
}

}  // namespace earshot
