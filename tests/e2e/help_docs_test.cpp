// `--help` and docs/cli.md say the same defaults as the code (#15: `search --help` named yamnet as
// the default model when it was mn04, and --ef-search said 96 when 192 applies from 300k items).
// The expected values come from the engine's and the index's constants, so changing a constant
// without the docs, or the docs without the code, fails here.
#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/format.h"
#include "engine/engine.h"
#include "index/hnsw_index.h"
#include "index/ivfpq_index.h"
#include "index/vector_index.h"

namespace earshot {
namespace {

std::string run_help(const std::string& args) {
    const std::string cmd = std::string(EARSHOT_BIN) + " " + args + " 2>&1";
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr)
        return out;
    std::array<char, 4096> buf{};
    std::size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
    pclose(p);
    // CLI11 wraps long help lines: join them so phrases can be searched.
    std::string joined;
    bool space = false;
    for (char c : out) {
        if (c == '\n' || c == ' ') {
            space = true;
            continue;
        }
        if (space && !joined.empty())
            joined += ' ';
        space = false;
        joined += c;
    }
    return joined;
}

// The row of docs/cli.md's shared-flags table that starts with "| `FLAG " or "| `FLAG`".
std::string docs_row(const std::string& flag) {
    std::ifstream in("docs/cli.md");
    EXPECT_TRUE(in) << "docs/cli.md not found (tests run from the source root)";
    std::string line;
    while (std::getline(in, line)) {
        // "| `--index SPEC`" but not "| `--index-dir D`".
        if (line.rfind("| `" + flag + " ", 0) == 0 || line.rfind("| `" + flag + "`", 0) == 0)
            return line;
    }
    ADD_FAILURE() << "no row for " << flag << " in docs/cli.md";
    return {};
}

void expect_all(const std::string& where,
                const std::string& text,
                const std::vector<std::string>& needles) {
    for (const auto& n : needles)
        EXPECT_NE(text.find(n), std::string::npos) << where << " lacks '" << n << "':\n" << text;
}

TEST(HelpDocsTest, DefaultModelAgrees) {
    const std::string def = default_model();
    expect_all("docs --model row", docs_row("--model"), {"`" + def + "`"});
    for (const char* sub : {"search", "eval", "export", "reindex"})
        expect_all(std::string(sub) + " --help", run_help(std::string(sub) + " --help"),
                   {"default: " + def});
}

TEST(HelpDocsTest, IndexDefaultsAgree) {
    const std::vector<std::string> index = {thousands(kAutoAnnThreshold),
                                            "HNSW" + std::to_string(kHnswDefaultM), "IVF"};
    const std::vector<std::string> ef = {std::to_string(kHnswDefaultEfSearch),
                                         std::to_string(kHnswLargeEfSearch),
                                         thousands(kHnswLargeIndexItems)};
    const std::vector<std::string> nprobe = {"max(" + std::to_string(kIvfMinDefaultNprobe)};
    expect_all("docs --index row", docs_row("--index"), index);
    expect_all("docs --ef-search row", docs_row("--ef-search"), ef);
    expect_all("docs --nprobe row", docs_row("--nprobe"), nprobe);
    const auto search = run_help("search --help");
    expect_all("search --help", search, index);
    expect_all("search --help", search, ef);
    expect_all("search --help", search, nprobe);
    const auto eval = run_help("eval --help");
    expect_all("eval --help", eval, ef);
    expect_all("reindex --help", run_help("reindex --help"), index);
}

// `-q` means --quiet wherever it exists (#15: it was --query in `list`).
TEST(HelpDocsTest, ShortQIsQuietEverywhere) {
    int with_q = 0;
    for (const char* sub : {"index",         "worker",
                            "migrate",       "search",
                            "embed",         "list",
                            "info",          "remove",
                            "export",        "models",
                            "eval",          "bench",
                            "serve",         "train autoencoder",
                            "train siamese", "train projection",
                            "similarity",    "import",
                            "reindex",       "check",
                            "dedup"}) {
        const auto help = run_help(std::string(sub) + " --help");
        ASSERT_NE(help.find("--help"), std::string::npos) << sub << ": " << help;
        if (help.find("-q,") == std::string::npos && help.find("-q ") == std::string::npos)
            continue;
        ++with_q;
        EXPECT_NE(help.find("-q,--quiet"), std::string::npos) << sub << ": " << help;
    }
    EXPECT_GE(with_q, 4);
}

}  // namespace
}  // namespace earshot
