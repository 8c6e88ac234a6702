// Training data for `earshot train`: excerpt images of audio files (decoded at 16 kHz, leading
// silence trimmed as the engine does before embedding), validation splits, and similarity
// targets for the siamese network: pairs files, labels, and listening logs turned into artist
// pair scores. Layout: images are Matrix [n_frames][n_mels], un-normalised log-mel.
// Thread-safety: free functions without shared state.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/matrix.h"
#include "core/status.h"
#include "models/trained_models.h"

namespace earshot {

struct ImageSet {
    std::vector<Matrix> images;         // one per file that decoded
    std::vector<std::size_t> sources;   // index into the input file list, per image
    std::vector<std::string> failures;  // "path: reason" for files that did not decode
};

// Decodes each file (first max_decode_s seconds), trims leading silence below -60 dBFS
// (audio/trim.h, as the engine does) and computes its excerpt image with `config` (mean/std
// ignored). threads <= 0: all cores. on_file(done, total) is called from worker threads.
// Errors: kInvalidArgument for a bad config; files that fail are listed in failures.
Result<ImageSet> compute_excerpt_images(
    const std::vector<std::filesystem::path>& files,
    const ExcerptImageConfig& config,
    int threads,
    const std::function<void(std::size_t, std::size_t)>& on_file = {},
    double max_decode_s = 120.0);

// Mean and standard deviation of every value of every image (double accumulation).
std::pair<float, float> image_stats(const std::vector<Matrix>& images);

// Validation split by group: the distinct groups are shuffled with std::mt19937_64(seed) and the
// first round(fraction × n_groups) (at least 1 if fraction > 0 and n_groups >= 2) go to
// validation. Returns is_validation per item. Items of one group are never split.
std::vector<bool> split_by_group(const std::vector<std::string>& groups,
                                 double fraction,
                                 std::uint64_t seed);

// One row of a pairs file: two audio paths (relative paths resolved against the pairs file's
// folder) and a target similarity in [0, 1].
struct PairTarget {
    std::filesystem::path a;
    std::filesystem::path b;
    float score = 0.0f;
};
// Pairs file: CSV `a,b,score`, an optional header row `a,b,score`, '#' comment lines and blank
// lines ignored. kNotFound for a missing file; kInvalidArgument naming the line for a row
// without three fields, a score that is not a number or is outside [0, 1], or no rows at all.
Result<std::vector<PairTarget>> read_pairs_file(const std::filesystem::path& path);

// One row of a listening log: user, artist, play count (as in the Last.fm 360K / 1K datasets).
struct ListeningRow {
    std::string user;
    std::string artist;
    double plays = 0.0;
};
// CSV or TSV (detected from the first line) with columns user, artist, plays; an optional
// header row whose third field is not a number. kNotFound, kInvalidArgument (line named).
Result<std::vector<ListeningRow>> read_listening_log(const std::filesystem::path& path);

// Artist pair scores from a listening log:
//   listeners(x)  = users with plays > 0 for artist x
//   co(a, b)      = |listeners(a) ∩ listeners(b)|           (users who play both)
//   raw(a, b)     = co(a, b) / sqrt(|listeners(a)| · |listeners(b)|)   (normalised by each
//                   artist's listener count: the Ochiai / cosine coefficient)
//   score(a, b)   = raw(a, b) / max over all pairs of raw    (global scaling to [0, 1])
// Returned for every unordered pair a < b of the artists in `artists` (or of every artist in the
// log if empty), zeros included, keyed by (a, b) with a < b. An artist without listeners scores 0.
std::map<std::pair<std::string, std::string>, float> artist_pair_scores(
    const std::vector<ListeningRow>& rows, const std::vector<std::string>& artists = {});

}  // namespace earshot
