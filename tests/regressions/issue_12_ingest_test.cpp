// Issue #12, ingest: one bad file must never stop or hang `earshot index`.
//   - float WAVs with NaN / Inf / huge samples used to abort the whole run ("vector has a
//     non-finite value", exit 2, every rerun failing on the same file);
//   - a directory symlink to "." was followed ~40 levels deep (93 duplicate items);
//   - a FIFO (in a folder or named on the command line) blocked the run forever;
//   - a WAV header claiming 1 Hz was stored as 16,000 s.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <fcntl.h>
#include <limits>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include <gtest/gtest.h>

#include "audio/decoder.h"
#include "engine/engine.h"
#include "test_support.h"
#include "wav_writer.h"

namespace earshot {
namespace {
namespace fs = std::filesystem;

std::unique_ptr<Engine> open_engine(const testing::TempDir& dir) {
    EngineOptions eo;
    eo.db_path = dir / "lib.earshot";
    eo.threads = 2;
    eo.create_if_missing = true;
    auto e = Engine::open(eo);
    EXPECT_TRUE(e) << e.error().to_string();
    return e ? std::move(*e) : nullptr;
}

Result<IndexReport> index_paths(Engine& engine, std::vector<fs::path> paths) {
    IndexOptions io;
    io.paths = std::move(paths);
    io.model = "mfcc";  // weight-free
    io.batch_size = 4;
    return engine.index(io);
}

const IndexFailure* failure_for(const IndexReport& r, const std::string& file_name) {
    for (const auto& f : r.failures) {
        if (fs::path(f.path).filename() == file_name)
            return &f;
    }
    return nullptr;
}

TEST(Issue12IngestTest, NonFiniteAndHugeFloatSamplesSkipOneFileNotTheRun) {
    testing::TempDir dir;
    const fs::path lib = dir / "lib";
    fs::create_directories(lib);
    for (int i = 0; i < 5; ++i) {
        testing::write_wav16(lib / ("good_" + std::to_string(i) + ".wav"),
                             testing::make_sine(220.0 * (i + 1), 0.5, 16000), 16000);
    }
    auto nan = testing::make_sine(440.0, 0.5, 16000);
    nan[100] = std::numeric_limits<float>::quiet_NaN();
    testing::write_wav_raw(lib / "nan.wav", nan, 16000);
    auto inf = testing::make_sine(440.0, 0.5, 16000);
    inf[2000] = std::numeric_limits<float>::infinity();
    testing::write_wav_raw(lib / "inf.wav", inf, 16000);
    auto huge = testing::make_sine(440.0, 0.5, 16000);
    for (auto& x : huge) x *= 3e38f;  // finite, but the spectrum overflows
    testing::write_wav_raw(lib / "huge.wav", huge, 16000);

    auto engine = open_engine(dir);
    ASSERT_TRUE(engine);
    for (int run = 0; run < 2; ++run) {  // a rerun must not fail on the same file either
        auto r = index_paths(*engine, {lib});
        ASSERT_TRUE(r) << "run " << run << ": " << r.error().to_string();
        EXPECT_EQ(r->counts.total, 8u);
        EXPECT_EQ(r->counts.added + r->counts.unchanged, 5u + (r->counts.failed == 2 ? 1u : 0u));
        for (const char* bad : {"nan.wav", "inf.wav"}) {
            const auto* f = failure_for(*r, bad);
            ASSERT_NE(f, nullptr) << bad << " was not reported";
            EXPECT_NE(f->reason.find("non-finite"), std::string::npos) << f->reason;
        }
        // huge.wav is either rejected with a reason or stored with finite vectors.
        if (const auto* f = failure_for(*r, "huge.wav")) {
            EXPECT_NE(f->reason.find("non-finite"), std::string::npos) << f->reason;
        }
    }
    auto n = engine->catalog().count_items();
    ASSERT_TRUE(n);
    EXPECT_GE(*n, 5);
    EXPECT_LE(*n, 6);
}

TEST(Issue12IngestTest, DirectorySymlinkLoopsAreWalkedOnceAndEachFileIndexedOnce) {
    testing::TempDir dir;
    const fs::path lib = dir / "lib";
    fs::create_directories(lib / "sub");
    testing::write_wav16(lib / "a.wav", testing::make_sine(300.0, 0.4, 16000), 16000);
    testing::write_wav16(lib / "sub" / "b.wav", testing::make_sine(500.0, 0.4, 16000), 16000);
    fs::create_directory_symlink(".", lib / "loop");         // lib/loop -> lib
    fs::create_directory_symlink("..", lib / "sub" / "up");  // lib/sub/up -> lib
    fs::create_symlink("a.wav", lib / "alias.wav");          // a second name of a.wav
    fs::create_hard_link(lib / "sub" / "b.wav", lib / "b_hard.wav");

    auto engine = open_engine(dir);
    ASSERT_TRUE(engine);
    auto r = index_paths(*engine, {lib, lib / "sub", lib / "a.wav"});
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->counts.total, 2u);
    EXPECT_EQ(r->counts.added, 2u);
    EXPECT_EQ(r->counts.failed, 0u);
    auto items = engine->catalog().list_items(0, -1);
    ASSERT_TRUE(items);
    ASSERT_EQ(items->size(), 2u);
    // The first name in path order wins: lib/a.wav (not alias.wav), lib/b_hard.wav. Ids follow
    // the order in which the workers finish, so compare the names as a set.
    std::vector<std::string> names = {fs::path((*items)[0].path).filename().string(),
                                      fs::path((*items)[1].path).filename().string()};
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, (std::vector<std::string>{"a.wav", "b_hard.wav"}));
}

// Opens the FIFO for writing if the indexer is stuck in open() on it (the bug), so that a
// regression fails the test instead of hanging it.
class FifoWatchdog {
public:
    explicit FifoWatchdog(fs::path fifo) : fifo_(std::move(fifo)) {
        thread_ = std::thread([this] {
            auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
            while (!stop_ && std::chrono::steady_clock::now() < deadline)
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            if (stop_)
                return;
            for (int i = 0; i < 100 && !stop_; ++i) {
                int fd = ::open(fifo_.c_str(), O_WRONLY | O_NONBLOCK);
                if (fd >= 0) {  // someone was blocked reading it
                    fired_ = true;
                    ::close(fd);
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
        });
    }
    ~FifoWatchdog() { finish(); }
    void finish() {
        stop_ = true;
        if (thread_.joinable())
            thread_.join();
    }
    bool fired() const { return fired_; }

private:
    fs::path fifo_;
    std::atomic<bool> stop_{false};
    std::atomic<bool> fired_{false};
    std::thread thread_;
};

TEST(Issue12IngestTest, FifosAreSkippedWithAReasonInFoldersAndOnTheCommandLine) {
    testing::TempDir dir;
    const fs::path lib = dir / "lib";
    fs::create_directories(lib);
    testing::write_wav16(lib / "a.wav", testing::make_sine(300.0, 0.4, 16000), 16000);
    const fs::path fifo = lib / "pipe.wav";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);

    auto engine = open_engine(dir);
    ASSERT_TRUE(engine);
    for (const auto& paths : {std::vector<fs::path>{lib}, std::vector<fs::path>{fifo}}) {
        FifoWatchdog watchdog(fifo);
        auto r = index_paths(*engine, paths);
        watchdog.finish();
        EXPECT_FALSE(watchdog.fired()) << "the indexer blocked opening the FIFO";
        ASSERT_TRUE(r) << r.error().to_string();
        const auto* f = failure_for(*r, "pipe.wav");
        ASSERT_NE(f, nullptr);
        EXPECT_NE(f->reason.find("FIFO"), std::string::npos) << f->reason;
        EXPECT_EQ(r->counts.failed, 1u);
    }
    // A character device named on the command line is skipped the same way.
    auto r = index_paths(*engine, {"/dev/null"});
    ASSERT_TRUE(r) << r.error().to_string();
    ASSERT_EQ(r->failures.size(), 1u);
    EXPECT_NE(r->failures[0].reason.find("character device"), std::string::npos);
}

TEST(Issue12IngestTest, ImplausibleSampleRatesInHeadersAreRejectedWithAReason) {
    testing::TempDir dir;
    const fs::path lib = dir / "lib";
    fs::create_directories(lib);
    // 16,000 samples that the header says are 1 Hz: used to be stored as 16,000 s.
    testing::write_wav_raw(lib / "one_hz.wav", testing::make_sine(440.0, 1.0, 16000), 1, 1);
    testing::write_wav_raw(lib / "ten_mhz.wav", testing::make_sine(440.0, 1.0, 16000), 10000000, 1);
    testing::write_wav16(lib / "ok_8k.wav", testing::make_sine(440.0, 0.5, 8000), 8000);

    AudioInfo info;
    auto audio = decode_audio(lib / "one_hz.wav", DecodeOptions{}, &info);
    ASSERT_FALSE(audio);
    EXPECT_EQ(audio.error().code(), ErrorCode::kCorruption);
    EXPECT_NE(audio.error().message().find("implausible sample rate 1 Hz"), std::string::npos)
        << audio.error().message();

    auto engine = open_engine(dir);
    ASSERT_TRUE(engine);
    auto r = index_paths(*engine, {lib});
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->counts.added, 1u);
    EXPECT_EQ(r->counts.failed, 2u);
    for (const char* bad : {"one_hz.wav", "ten_mhz.wav"}) {
        const auto* f = failure_for(*r, bad);
        ASSERT_NE(f, nullptr) << bad;
        EXPECT_NE(f->reason.find("implausible sample rate"), std::string::npos) << f->reason;
    }
    auto items = engine->catalog().list_items(0, -1);
    ASSERT_TRUE(items);
    ASSERT_EQ(items->size(), 1u);
    EXPECT_NEAR((*items)[0].duration_s, 0.5, 0.01);
}

}  // namespace
}  // namespace earshot
