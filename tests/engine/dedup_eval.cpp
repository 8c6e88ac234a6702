// earshot_dedup_eval: the same-recording measurement of docs/dedup.md. Makes transformed copies
// of ../shared audio with the ffmpeg command-line tool into a scratch folder (seeded choices):
//   music:     game_music excerpts (30 s), each with every transformation below;
//   one-shots: all notes (both velocities) of some gm_fluidr3 presets / drum sounds, each with
//              two transformations drawn at random;
// indexes the folder, runs dedup and prints precision and recall of the pairs it groups (music
// and one-shots separately), the offset error of trimmed copies, and the share of pairs of
// *different* originals of one gm_fluidr3 group_id that were grouped (different notes of a
// preset; separately: the same note at the other velocity).
//   earshot_dedup_eval [--music N] [--presets N] [--model mfcc] [--seed 1] [--dir D] [--keep]
//                      [--threshold 0.8] [--max-embedding-distance D] [--min-correlation C]
//                      [--min-detail-correlation C]   (defaults: SameRecordingOptions)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>

#include "core/thread_pool.h"
#include "engine/dedup.h"
#include "index/metric.h"
#include "test_support.h"

namespace fs = std::filesystem;
using namespace earshot;

namespace {

struct Transform {
    std::string name;
    std::string ext;
    std::string args;     // ffmpeg output options
    double trim_start_s;  // music only
    double trim_end_s;    // music only
};

const std::vector<Transform>& transforms() {
    static const std::vector<Transform> t = {
        {"mp3_64k", "mp3", "-c:a libmp3lame -b:a 64k", 0.0, 0.0},
        {"mp3_128k_trim3", "mp3", "-c:a libmp3lame -b:a 128k", 3.0, 0.0},
        {"opus_32k_-6dB", "opus", "-af volume=-6dB -c:a libopus -b:a 32k", 0.0, 0.0},
        {"ogg_22k_stereo_+6dB", "ogg", "-af volume=6dB -ar 22050 -ac 2 -c:a libvorbis -q:a 3", 0.0,
         0.0},
        {"wav_48k_mono_trim2_end4", "wav", "-ar 48000 -ac 1", 2.0, 4.0},
        {"m4a_aac_96k_stereo", "m4a", "-ac 2 -c:a aac -b:a 96k", 0.0, 0.0},
    };
    return t;
}

struct File {
    std::string name;       // in the scratch folder
    int source = 0;         // index into sources
    std::string transform;  // "" for the original
    double trim_start_s = 0.0;
};

struct Source {
    fs::path path;
    bool music = false;
    std::string group;  // gm_fluidr3 group_id
    int note = -1;
    int velocity = -1;
};

// Minimal CSV line split (the manifests quote no commas in the columns we read).
std::vector<std::string> split_csv(const std::string& line) {
    std::vector<std::string> out;
    std::string cur;
    bool quoted = false;
    for (char c : line) {
        if (c == '"') {
            quoted = !quoted;
        } else if (c == ',' && !quoted) {
            out.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    out.push_back(cur);
    return out;
}

std::vector<std::map<std::string, std::string>> read_manifest(const fs::path& p) {
    std::ifstream in(p);
    std::string line;
    std::getline(in, line);
    const auto header = split_csv(line);
    std::vector<std::map<std::string, std::string>> rows;
    while (std::getline(in, line)) {
        if (line.empty())
            continue;
        auto cells = split_csv(line);
        std::map<std::string, std::string> row;
        for (std::size_t i = 0; i < header.size() && i < cells.size(); ++i)
            row[header[i]] = cells[i];
        rows.push_back(std::move(row));
    }
    return rows;
}

bool run(const std::string& cmd) {
    return std::system(cmd.c_str()) == 0;
}

std::string quote(const fs::path& p) {
    std::string s = "'";
    for (char c : p.string()) {
        if (c == '\'')
            s += "'\\''";
        else
            s += c;
    }
    return s + "'";
}

double median(std::vector<double> v) {
    if (v.empty())
        return NAN;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    std::size_t n_music = 30;
    std::size_t n_presets = 32;
    std::string model = "mfcc";
    std::uint32_t seed = 1;
    fs::path dir;
    bool keep = false;
    DedupOptions options;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
        if (a == "--music")
            n_music = std::stoul(next());
        else if (a == "--presets")
            n_presets = std::stoul(next());
        else if (a == "--model")
            model = next();
        else if (a == "--seed")
            seed = static_cast<std::uint32_t>(std::stoul(next()));
        else if (a == "--dir")
            dir = next();
        else if (a == "--keep")
            keep = true;
        else if (a == "--threshold")
            options.thresholds.min_bit_agreement = std::stod(next());
        else if (a == "--max-embedding-distance")
            options.thresholds.max_embedding_distance = std::stod(next());
        else if (a == "--min-correlation")
            options.thresholds.min_correlation = std::stod(next());
        else if (a == "--min-detail-correlation")
            options.thresholds.min_detail_correlation = std::stod(next());
        else {
            std::fprintf(stderr, "unknown argument %s\n", a.c_str());
            return 2;
        }
    }
    const fs::path data = earshot::testing::datasets_dir();
    if (dir.empty())
        dir = fs::temp_directory_path() / fmt::format("earshot_dedup_eval_{}", getpid());
    const fs::path audio_dir = dir / "audio";
    fs::create_directories(audio_dir);
    std::mt19937 rng(seed);

    // Sources.
    std::vector<Source> sources;
    {
        auto rows = read_manifest(data / "game_music" / "manifest.csv");
        std::shuffle(rows.begin(), rows.end(), rng);
        for (std::size_t i = 0; i < std::min(n_music, rows.size()); ++i)
            sources.push_back({data / "game_music" / rows[i]["path"], true, "", -1, -1});
    }
    {
        auto rows = read_manifest(data / "gm_fluidr3" / "manifest.csv");
        std::map<std::string, std::vector<std::size_t>> by_group;
        for (std::size_t i = 0; i < rows.size(); ++i) {
            if (rows[i]["silent"] != "1")
                by_group[rows[i]["group_id"]].push_back(i);
        }
        std::vector<std::string> groups;
        for (const auto& [g, _] : by_group) groups.push_back(g);
        std::shuffle(groups.begin(), groups.end(), rng);
        for (std::size_t gi = 0; gi < std::min(n_presets, groups.size()); ++gi) {
            for (std::size_t r : by_group[groups[gi]]) {
                sources.push_back({data / "gm_fluidr3" / rows[r]["path"], false, groups[gi],
                                   std::stoi(rows[r]["note"]), std::stoi(rows[r]["velocity"])});
            }
        }
    }

    // Files: originals (copied as they are) and transformed copies.
    std::vector<File> files;
    std::vector<std::pair<File, const Transform*>> jobs;
    for (std::size_t s = 0; s < sources.size(); ++s) {
        const auto& src = sources[s];
        File orig{fmt::format("s{:04d}_orig{}", s, src.path.extension().string()),
                  static_cast<int>(s), "", 0.0};
        files.push_back(orig);
        std::vector<const Transform*> chosen;
        for (const auto& t : transforms()) chosen.push_back(&t);
        if (!src.music) {
            std::shuffle(chosen.begin(), chosen.end(), rng);
            chosen.resize(2);
        }
        for (const Transform* t : chosen) {
            File f{fmt::format("s{:04d}_{}.{}", s, t->name, t->ext), static_cast<int>(s), t->name,
                   src.music ? t->trim_start_s : 0.0};
            jobs.emplace_back(f, t);
            files.push_back(f);
        }
    }
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<int> ok(jobs.size(), 1);
    parallel_for(jobs.size(), 0, 1, [&](std::size_t begin, std::size_t end) {
        for (std::size_t j = begin; j < end; ++j) {
            const auto& [f, t] = jobs[j];
            if (fs::exists(audio_dir / f.name))
                continue;  // --dir of an earlier run with the same seed
            const auto& src = sources[static_cast<std::size_t>(f.source)];
            std::string trim;
            if (src.music && t->trim_start_s > 0)
                trim += fmt::format(" -ss {}", t->trim_start_s);
            if (src.music && t->trim_end_s > 0)
                trim += fmt::format(" -t {}", 30.0 - t->trim_start_s - t->trim_end_s);
            const std::string cmd =
                fmt::format("ffmpeg -nostdin -loglevel error -y{} -i {} {} {}", trim,
                            quote(src.path), t->args, quote(audio_dir / f.name));
            if (!run(cmd))
                ok[j] = 0;
        }
    });
    for (const auto& f : files) {
        if (f.transform.empty())
            fs::copy_file(sources[static_cast<std::size_t>(f.source)].path, audio_dir / f.name,
                          fs::copy_options::overwrite_existing);
    }
    const double make_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto n_failed = std::count(ok.begin(), ok.end(), 0);
    std::fprintf(stderr, "made %zu files (%ld ffmpeg failures) in %.0f s\n", files.size(),
                 static_cast<long>(n_failed), make_s);

    // Index and dedup.
    EngineOptions eo;
    eo.db_path = dir / "eval.earshot";
    eo.create_if_missing = true;
    auto engine = Engine::open(eo);
    if (!engine) {
        std::fprintf(stderr, "%s\n", engine.error().to_string().c_str());
        return 1;
    }
    IndexOptions io;
    io.paths = {audio_dir};
    io.model = model;
    const auto t1 = std::chrono::steady_clock::now();
    auto indexed = (*engine)->index(io);
    if (!indexed) {
        std::fprintf(stderr, "%s\n", indexed.error().to_string().c_str());
        return 1;
    }
    const double index_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    options.space = model;
    auto report = find_duplicates(**engine, options);
    if (!report) {
        std::fprintf(stderr, "%s\n", report.error().to_string().c_str());
        return 1;
    }

    // The short-sound tests' inputs, for choosing thresholds: band correlation, cosine distance
    // and sounding-length ratio of one-shot pairs of the same source (original vs copy) and of
    // different originals of one group_id.
    {
        CatalogReader& cat = (*engine)->catalog();
        auto items = cat.list_items(0, -1);
        std::map<std::string, std::int64_t> id_of;
        for (const auto& it : *items) id_of[it.name] = it.id;
        auto load = [&](const std::string& name, Fingerprint& fp, std::vector<float>& v) {
            auto id = id_of.find(name);
            if (id == id_of.end())
                return false;
            auto rec = cat.get_fingerprint(id->second);
            auto vec = cat.get_embedding(id->second, model);
            if (!rec || !*rec || !vec)
                return false;
            fp = *decode_fingerprint((*rec)->data);
            v = *vec;
            return true;
        };
        std::vector<double> same_c, same_d, same_r, diff_c, diff_d, diff_r, vel_c, vel_d, vel_r,
            pre_c, pre_d, pre_r, same_x, diff_x, vel_x, pre_x;
        for (std::size_t i = 0; i < files.size(); ++i) {
            const auto& a = files[i];
            const auto& sa = sources[static_cast<std::size_t>(a.source)];
            if (sa.music || !a.transform.empty())
                continue;
            Fingerprint fa;
            std::vector<float> va;
            if (!load(a.name, fa, va))
                continue;
            for (std::size_t j = 0; j < files.size(); ++j) {
                const auto& b = files[j];
                const auto& sb = sources[static_cast<std::size_t>(b.source)];
                const bool same = a.source == b.source && !b.transform.empty();
                const bool originals = a.source < b.source && b.transform.empty() && !sb.music;
                const bool diff = originals && sa.group == sb.group && sa.note != sb.note;
                const bool vel = originals && sa.group == sb.group && sa.note == sb.note;
                const bool pre = originals && sa.group != sb.group && sa.note == sb.note;
                if (!same && !diff && !vel && !pre)
                    continue;
                Fingerprint fb;
                std::vector<float> vb;
                if (!load(b.name, fb, vb))
                    continue;
                const auto sm = compare_signatures(fa, fb);
                const double c = sm.correlation;
                (same   ? same_x
                 : diff ? diff_x
                 : vel  ? vel_x
                        : pre_x)
                    .push_back(sm.detail_correlation);
                const double d = naive_distance(Metric::kCosine, va, vb);
                const double r = std::max(fa.sounding_s, fb.sounding_s) /
                                 std::max(1e-3, std::min(fa.sounding_s, fb.sounding_s));
                auto& vc = same ? same_c : diff ? diff_c : vel ? vel_c : pre_c;
                auto& vd = same ? same_d : diff ? diff_d : vel ? vel_d : pre_d;
                auto& vr = same ? same_r : diff ? diff_r : vel ? vel_r : pre_r;
                vc.push_back(c);
                vd.push_back(d);
                vr.push_back(r);
            }
        }
        auto q = [](std::vector<double> v, double p) -> double {
            if (v.empty())
                return NAN;
            std::sort(v.begin(), v.end());
            return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
        };
        fmt::print("one-shot pairs, quantiles 0 / 0.01 / 0.05 / 0.5 / 0.95 / 0.99 / 1:\n");
        for (const auto& [label, v] : {std::pair{"copies: detail correlation", &same_x},
                                       {"other notes: detail corr.", &diff_x},
                                       {"other velocity: detail corr.", &vel_x},
                                       {"same note, other preset: det.", &pre_x},
                                       {"copies: correlation", &same_c},
                                       {"copies: cosine distance", &same_d},
                                       {"copies: sounding ratio", &same_r},
                                       {"other notes: correlation", &diff_c},
                                       {"other notes: cosine distance", &diff_d},
                                       {"other notes: sounding ratio", &diff_r},
                                       {"other velocity: correlation", &vel_c},
                                       {"other velocity: cosine distance", &vel_d},
                                       {"other velocity: sounding ratio", &vel_r},
                                       {"same note, other preset: corr.", &pre_c},
                                       {"same note, other preset: cos d", &pre_d},
                                       {"same note, other preset: ratio", &pre_r}}) {
            fmt::print("  {:30} n={:5}  {:.4f} {:.4f} {:.4f} {:.4f} {:.4f} {:.4f} {:.4f}\n", label,
                       v->size(), q(*v, 0), q(*v, 0.01), q(*v, 0.05), q(*v, 0.5), q(*v, 0.95),
                       q(*v, 0.99), q(*v, 1));
        }
    }

    // Ground truth by file name.
    std::map<std::string, const File*> by_name;
    for (const auto& f : files) by_name[f.name] = &f;
    std::map<std::string, std::pair<std::size_t, double>> group_of;  // name -> (group, offset)
    for (std::size_t g = 0; g < report->groups.size(); ++g) {
        for (const auto& m : report->groups[g].members) group_of[m.name] = {g + 1, m.offset_s};
    }
    struct Counts {
        std::size_t tp = 0, fp = 0, fn = 0;
    };
    Counts music, shots;
    std::size_t diff_note_pairs = 0, diff_note_grouped = 0, vel_pairs = 0, vel_grouped = 0;
    std::size_t fp_velocity = 0, fp_note = 0, fp_other = 0;
    std::vector<double> offset_errors;
    std::map<std::string, std::pair<std::size_t, std::size_t>> recall_by_transform;
    std::vector<std::string> present;
    for (const auto& f : files) {
        if (fs::exists(audio_dir / f.name))
            present.push_back(f.name);
    }
    for (std::size_t i = 0; i < present.size(); ++i) {
        const File& a = *by_name[present[i]];
        for (std::size_t j = i + 1; j < present.size(); ++j) {
            const File& b = *by_name[present[j]];
            const bool truth = a.source == b.source;
            const auto ga = group_of.find(a.name);
            const auto gb = group_of.find(b.name);
            const bool grouped = ga != group_of.end() && gb != group_of.end() &&
                                 ga->second.first == gb->second.first;
            const bool is_music = sources[static_cast<std::size_t>(a.source)].music;
            Counts& c = is_music ? music : shots;
            if (truth && grouped)
                ++c.tp;
            else if (truth)
                ++c.fn;
            else if (grouped) {
                ++c.fp;
                const auto& xa = sources[static_cast<std::size_t>(a.source)];
                const auto& xb = sources[static_cast<std::size_t>(b.source)];
                if (!is_music && xa.group == xb.group && xa.note == xb.note)
                    ++fp_velocity;
                else if (!is_music && xa.group == xb.group) {
                    if (++fp_note <= 40 && a.transform.empty() && b.transform.empty())
                        std::fprintf(stderr, "other note grouped: %s and %s\n",
                                     xa.path.filename().c_str(), xb.path.filename().c_str());
                } else if (++fp_other && a.transform.empty() && b.transform.empty())
                    std::fprintf(stderr, "false pair: %s and %s\n", xa.path.filename().c_str(),
                                 xb.path.filename().c_str());
            }
            if (truth && (a.transform.empty() || b.transform.empty())) {
                const File& copy = a.transform.empty() ? b : a;
                const std::string key = (is_music ? "music " : "one-shot ") + copy.transform;
                recall_by_transform[key].second++;
                if (grouped) {
                    recall_by_transform[key].first++;
                    const File& orig = a.transform.empty() ? a : b;
                    const double measured = group_of[copy.name].second - group_of[orig.name].second;
                    if (is_music)
                        offset_errors.push_back(std::abs(measured - copy.trim_start_s));
                }
            }
            const auto& sa = sources[static_cast<std::size_t>(a.source)];
            const auto& sb = sources[static_cast<std::size_t>(b.source)];
            if (!truth && !sa.music && sa.group == sb.group && a.transform.empty() &&
                b.transform.empty()) {
                if (sa.note != sb.note) {
                    ++diff_note_pairs;
                    diff_note_grouped += grouped;
                } else {
                    ++vel_pairs;
                    vel_grouped += grouped;
                }
            }
        }
    }
    auto prec = [](const Counts& c) {
        return c.tp + c.fp ? static_cast<double>(c.tp) / static_cast<double>(c.tp + c.fp) : 1.0;
    };
    auto rec = [](const Counts& c) {
        return c.tp + c.fn ? static_cast<double>(c.tp) / static_cast<double>(c.tp + c.fn) : 1.0;
    };
    std::size_t n_music_files = 0;
    for (const auto& name : present) n_music_files += sources[by_name[name]->source].music;
    fmt::print(
        "model {}, seed {}; thresholds: bits {:.2f}, correlation {:.2f}, detail {:.2f}, "
        "embedding {:.3f}\n",
        model, seed, options.thresholds.min_bit_agreement, options.thresholds.min_correlation,
        options.thresholds.min_detail_correlation, options.thresholds.max_embedding_distance);
    fmt::print(
        "{} files ({} music from {} excerpts, {} one-shots); index {:.0f} s, dedup {:.2f} s, "
        "{} candidate pairs of {} ({:.3f} %)\n\n",
        present.size(), n_music_files, n_music, present.size() - n_music_files, index_s,
        report->elapsed_s, report->candidate_pairs, present.size() * (present.size() - 1) / 2,
        100.0 * static_cast<double>(report->candidate_pairs) /
            static_cast<double>(present.size() * (present.size() - 1) / 2));
    fmt::print("| set | true pairs | precision | recall |\n|---|---|---|---|\n");
    fmt::print("| music | {} | {:.3f} | {:.3f} |\n", music.tp + music.fn, prec(music), rec(music));
    fmt::print("| one-shots | {} | {:.3f} | {:.3f} |\n", shots.tp + shots.fn, prec(shots),
               rec(shots));
    Counts shots_vel = shots;  // the other velocity of a note counted as the same recording
    shots_vel.fp -= fp_velocity;
    shots_vel.tp += fp_velocity;
    fmt::print("| one-shots, velocity layers as one | {} | {:.3f} | {:.3f} |\n\n",
               shots.tp + shots.fn + fp_velocity, prec(shots_vel), rec(shots_vel));
    fmt::print(
        "false pairs: {} between velocity layers of one note, {} between notes of one "
        "preset, {} other\n\n",
        fp_velocity, fp_note, fp_other);
    fmt::print("| copy | grouped with its original |\n|---|---|\n");
    for (const auto& [k, v] : recall_by_transform)
        fmt::print("| {} | {}/{} |\n", k, v.first, v.second);
    fmt::print(
        "\ntrimmed music copies: median |offset error| {:.3f} s, max {:.3f} s ({} copies)\n",
        median(offset_errors),
        offset_errors.empty() ? NAN : *std::max_element(offset_errors.begin(), offset_errors.end()),
        offset_errors.size());
    fmt::print("gm_fluidr3 pairs of different notes of one preset grouped: {}/{} ({:.4f})\n",
               diff_note_grouped, diff_note_pairs,
               diff_note_pairs ? double(diff_note_grouped) / double(diff_note_pairs) : 0.0);
    fmt::print("gm_fluidr3 pairs of one note at the other velocity grouped: {}/{} ({:.4f})\n",
               vel_grouped, vel_pairs, vel_pairs ? double(vel_grouped) / double(vel_pairs) : 0.0);
    if (!keep)
        fs::remove_all(dir);
    else
        std::fprintf(stderr, "kept %s\n", dir.c_str());
    return 0;
}
