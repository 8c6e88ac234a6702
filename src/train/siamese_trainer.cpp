// train_siamese (trainer.h): excerpt images of the files, then mini-batch Adam on the binary
// cross-entropy between the pair score and the target. Key mode samples pairs_per_epoch pairs
// per epoch (half with the same key, half with different keys); pairs mode uses every pair once
// per epoch. Validation: files (key mode) or pairs (pairs mode) held out; early stopping on it.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>

#include <fmt/format.h>

#include "models/detail/trained_networks.h"
#include "train/train_util.h"
#include "train/trainer.h"

namespace earshot {
namespace {

using Pair = SiameseTargets::Pair;

float key_score(const SiameseTargets& t, const std::string& a, const std::string& b) {
    if (a == b)
        return 1.0f;
    auto it = t.key_scores.find(a < b ? std::make_pair(a, b) : std::make_pair(b, a));
    return it == t.key_scores.end() ? 0.0f : it->second;
}

// n pairs among `rows` (image indices): half same key (when a key has >= 2 rows), half random
// pairs of different keys.
std::vector<Pair> sample_key_pairs(const SiameseTargets& t,
                                   const std::vector<std::string>& keys,
                                   const std::vector<std::size_t>& rows,
                                   std::size_t n,
                                   std::mt19937_64& rng) {
    std::map<std::string, std::vector<std::size_t>> by_key;
    for (auto r : rows) by_key[keys[r]].push_back(r);
    std::vector<const std::vector<std::size_t>*> multi;
    for (const auto& [k, v] : by_key) {
        if (v.size() >= 2)
            multi.push_back(&v);
    }
    std::vector<Pair> pairs;
    if (rows.size() < 2)
        return pairs;
    auto pick = [&](std::size_t size) {
        return std::uniform_int_distribution<std::size_t>(0, size - 1)(rng);
    };
    for (std::size_t i = 0; i < n; ++i) {
        if (i % 2 == 0 && !multi.empty()) {
            const auto& v = *multi[pick(multi.size())];
            const std::size_t a = pick(v.size());
            std::size_t b = pick(v.size() - 1);
            if (b >= a)
                ++b;
            pairs.push_back({v[a], v[b], 1.0f});
        } else {
            const std::size_t a = rows[pick(rows.size())];
            std::size_t b = rows[pick(rows.size())];
            for (int tries = 0; tries < 8 && keys[a] == keys[b]; ++tries)
                b = rows[pick(rows.size())];
            if (a == b)
                continue;
            pairs.push_back({a, b, key_score(t, keys[a], keys[b])});
        }
    }
    return pairs;
}

// Mean BCE over pairs (optionally with an optimiser step per batch).
double run_pairs(detail::SiameseNet& net,
                 const torch::Tensor& x,
                 const std::vector<Pair>& pairs,
                 int batch_size,
                 torch::optim::Optimizer* opt) {
    double sum = 0.0;
    std::optional<torch::NoGradGuard> no_grad;
    if (opt == nullptr)
        no_grad.emplace();
    for (std::size_t b = 0; b < pairs.size(); b += static_cast<std::size_t>(batch_size)) {
        const std::size_t e = std::min(pairs.size(), b + static_cast<std::size_t>(batch_size));
        std::vector<std::int64_t> ia, ib;
        std::vector<float> y;
        for (std::size_t k = b; k < e; ++k) {
            ia.push_back(static_cast<std::int64_t>(pairs[k].a));
            ib.push_back(static_cast<std::int64_t>(pairs[k].b));
            y.push_back(pairs[k].score);
        }
        auto logits = net->pair_logit(net->embed(x.index_select(0, torch::tensor(ia))),
                                      net->embed(x.index_select(0, torch::tensor(ib))));
        auto loss = torch::binary_cross_entropy_with_logits(logits, torch::tensor(y));
        if (opt != nullptr) {
            opt->zero_grad();
            loss.backward();
            opt->step();
        }
        sum += loss.item<double>() * static_cast<double>(e - b);
    }
    return pairs.empty() ? std::numeric_limits<double>::quiet_NaN()
                         : sum / static_cast<double>(pairs.size());
}

}  // namespace

Result<TrainReport> train_siamese(const SiameseTargets& t,
                                  const std::filesystem::path& out,
                                  const SiameseTrainOptions& o) {
    const bool key_mode = t.pairs.empty();
    if (key_mode && t.keys.size() != t.files.size()) {
        return make_error(ErrorCode::kInvalidArgument,
                          "train siamese: give pairs, or one key (label/artist) per file");
    }
    if (t.files.size() < 2 || o.dim <= 0 || o.channels <= 0 || o.epochs <= 0 || o.batch_size <= 0 ||
        o.n_frames < 1) {
        return make_error(ErrorCode::kInvalidArgument,
                          "train siamese: need >= 2 files, dim/channels/epochs/batch size > 0");
    }
    const auto start = std::chrono::steady_clock::now();
    TrainReport report;
    ExcerptImageConfig input;
    EARSHOT_ASSIGN_OR_RETURN(ImageSet set, detail::excerpt_images_with_progress(
                                               t.files, o.excerpt, o.excerpt_s, o.n_frames,
                                               o.n_mels, o.threads, o.on_progress, start, input));
    report.n_failed = set.failures.size();
    report.features_s = detail::seconds_since(start);
    std::vector<std::ptrdiff_t> image_of(t.files.size(), -1);
    for (std::size_t k = 0; k < set.sources.size(); ++k)
        image_of[set.sources[k]] = static_cast<std::ptrdiff_t>(k);

    // Split, and the keys / pairs in image indices.
    std::vector<std::string> keys;
    std::vector<std::size_t> tr_rows, va_rows;
    std::vector<Pair> tr_pairs, va_pairs;
    std::vector<bool> train_image(set.images.size(), false);
    if (key_mode) {
        std::vector<std::string> names;
        for (auto src : set.sources) {
            keys.push_back(t.keys[src]);
            names.push_back(t.files[src].string());
        }
        const auto is_val = split_by_group(names, o.val_fraction, o.seed);
        for (std::size_t i = 0; i < is_val.size(); ++i) {
            (is_val[i] ? va_rows : tr_rows).push_back(i);
            train_image[i] = !is_val[i];
        }
    } else {
        std::vector<Pair> valid;
        std::vector<std::string> ids;
        for (const auto& p : t.pairs) {
            if (image_of[p.a] < 0 || image_of[p.b] < 0)
                continue;
            valid.push_back({static_cast<std::size_t>(image_of[p.a]),
                             static_cast<std::size_t>(image_of[p.b]), p.score});
            ids.push_back(std::to_string(ids.size()));
        }
        const auto is_val = split_by_group(ids, o.val_fraction, o.seed);
        for (std::size_t i = 0; i < valid.size(); ++i) {
            (is_val[i] ? va_pairs : tr_pairs).push_back(valid[i]);
            if (!is_val[i])
                train_image[valid[i].a] = train_image[valid[i].b] = true;
        }
        if (tr_pairs.empty()) {
            return make_error(ErrorCode::kInvalidArgument,
                              "train siamese: no pair whose two files both decoded");
        }
    }
    std::vector<Matrix> train_images;
    for (std::size_t i = 0; i < set.images.size(); ++i) {
        if (train_image[i])
            train_images.push_back(set.images[i]);
    }
    if (train_images.empty())
        return make_error(ErrorCode::kInvalidArgument, "train siamese: no training files decoded");
    std::tie(input.mean, input.std) = image_stats(train_images);
    report.n_train = key_mode ? tr_rows.size() : tr_pairs.size();
    report.n_val = key_mode ? va_rows.size() : va_pairs.size();

    try {
        detail::seed_everything(o.seed);
        // x: [N, n_mels, n_frames], normalised.
        const auto n = static_cast<std::int64_t>(set.images.size());
        auto x = torch::empty({n, o.n_frames, o.n_mels});
        for (std::int64_t i = 0; i < n; ++i) {
            const auto& img = set.images[static_cast<std::size_t>(i)].data;
            std::copy(img.begin(), img.end(), x[i].data_ptr<float>());
        }
        x = ((x - input.mean) / input.std).transpose(1, 2).contiguous();
        detail::SiameseNet net(o.n_mels, o.channels, o.dim);
        torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(o.learning_rate));
        if (key_mode) {
            std::mt19937_64 rng(o.seed ^ 0x5eedULL);
            va_pairs = sample_key_pairs(t, keys, va_rows,
                                        static_cast<std::size_t>(o.pairs_per_epoch) / 4, rng);
        }
        const bool has_val = !va_pairs.empty();
        TrainedModelCard card;
        card.kind = "siamese";
        card.dim = o.dim;
        card.channels = o.channels;
        card.input = input;
        card.description = fmt::format(
            "siamese 1-D conv branch ({} ch, {}-d) on {:.1f} s '{}' excerpts, {} files", o.channels,
            o.dim, o.excerpt_s, excerpt_kind_name(o.excerpt), set.images.size());
        card.training_json = o.training_json;
        detail::EarlyStopping stop;
        stop.watch_val = has_val;
        auto run_epoch = [&](int epoch) -> Result<detail::EpochLosses> {
            std::mt19937_64 rng(o.seed + static_cast<std::uint64_t>(epoch));
            std::vector<Pair> pairs =
                key_mode ? sample_key_pairs(t, keys, tr_rows,
                                            static_cast<std::size_t>(o.pairs_per_epoch), rng)
                         : tr_pairs;
            if (!key_mode)
                std::shuffle(pairs.begin(), pairs.end(), rng);
            if (pairs.empty()) {
                return make_error(ErrorCode::kInvalidArgument,
                                  "train siamese: not enough training files to form pairs");
            }
            net->train();
            detail::EpochLosses losses{run_pairs(net, x, pairs, o.batch_size, &opt)};
            net->eval();
            if (has_val)
                losses.val = run_pairs(net, x, va_pairs, o.batch_size, nullptr);
            return losses;
        };
        auto save_best = [&](int) -> Status {
            card.name = detail::trained_model_name("siamese", out, *net);
            return detail::save_trained_module(out, card, *net);
        };
        EARSHOT_RETURN_IF_ERROR(detail::run_epochs("siamese", 1, o.epochs, o.patience, stop, report,
                                                   o.on_progress, start, run_epoch, save_best));
        EARSHOT_ASSIGN_OR_RETURN(TrainedModelCard final_card, read_trained_card(out));
        report.model_name = final_card.name;
        report.elapsed_s = detail::seconds_since(start);
        return report;
    } catch (const std::exception& e) {
        return make_error(ErrorCode::kInternal, std::string("train siamese: ") + e.what());
    }
}

}  // namespace earshot
