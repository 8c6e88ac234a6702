// earshot: audio similarity search. One setup_* line per subcommand (docs/cli.md).
#include <cstdio>
#include <exception>
#include <filesystem>
#include <new>
#include <string_view>

#include <CLI/CLI.hpp>

#include "cli/cmd_bench.h"
#include "cli/cmd_check.h"
#include "cli/cmd_dedup.h"
#include "cli/cmd_embed.h"
#include "cli/cmd_eval.h"
#include "cli/cmd_export.h"
#include "cli/cmd_import.h"
#include "cli/cmd_index.h"
#include "cli/cmd_library.h"
#include "cli/cmd_migrate.h"
#include "cli/cmd_reindex.h"
#include "cli/cmd_search.h"
#include "cli/cmd_serve.h"
#include "cli/cmd_similarity.h"
#include "cli/cmd_train.h"
#include "cli/exit_codes.h"
#include "core/log.h"

#ifndef EARSHOT_VERSION
#define EARSHOT_VERSION "0.0.0"
#endif

int main(int argc, char** argv) {
    // Warnings and errors by default; -v adds what earshot is doing (models and index files
    // loaded, indexes built, files queued), -vv the decoder's own messages.
    earshot::set_log_level(earshot::LogLevel::kWarning);
    earshot::set_log_sink([](earshot::LogLevel, std::string_view msg) {
        std::fprintf(stderr, "earshot: %.*s\n", static_cast<int>(msg.size()), msg.data());
    });
    CLI::App app{"earshot: find the sounds in your library that sound like this one"};
    app.set_version_flag("--version", EARSHOT_VERSION);
    // Accepted before or after the subcommand (fallthrough), e.g. `earshot index DIR -v`. The
    // level is set from argv before parsing: the subcommands run inside app.parse, before the
    // flag's own callback would.
    app.fallthrough();
    app.add_flag("-v,--verbose")
        ->description("Also log what earshot is doing (-vv: and the decoder's messages) to stderr")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    int verbosity = 0;
    for (int i = 1; i < argc && std::string_view(argv[i]) != "--"; ++i) {
        const std::string_view a = argv[i];
        if (a == "--verbose")
            ++verbosity;
        else if (a.size() >= 2 && a[0] == '-' && a[1] == 'v' &&
                 a.find_first_not_of('v', 1) == std::string_view::npos)
            verbosity += static_cast<int>(a.size()) - 1;  // -v, -vv
    }
    if (verbosity > 0)
        earshot::set_log_level(verbosity >= 2 ? earshot::LogLevel::kDebug
                                              : earshot::LogLevel::kInfo);
    app.require_subcommand(1);
    earshot::cli::setup_index(app);
    earshot::cli::setup_worker(app);
    earshot::cli::setup_migrate(app);
    earshot::cli::setup_search(app);
    earshot::cli::setup_embed(app);
    earshot::cli::setup_list(app);
    earshot::cli::setup_tags(app);
    earshot::cli::setup_info(app);
    earshot::cli::setup_remove(app);
    earshot::cli::setup_export(app);
    earshot::cli::setup_models(app);
    earshot::cli::setup_eval(app);
    earshot::cli::setup_bench(app);
    earshot::cli::setup_serve(app);
    earshot::cli::setup_train(app);
    earshot::cli::setup_similarity(app);
    earshot::cli::setup_import(app);
    earshot::cli::setup_reindex(app);
    earshot::cli::setup_check(app);
    earshot::cli::setup_dedup(app);
    // Anything a command did not turn into an Error still ends with one line and an exit code
    // (docs/cli.md), never with std::terminate.
    const std::string command = argc > 1 && argv[1][0] != '-' ? argv[1] : "main";
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const std::filesystem::filesystem_error& e) {
        return earshot::cli::report_error(command,
                                          earshot::Error(earshot::ErrorCode::kIoError, e.what()));
    } catch (const std::bad_alloc&) {
        return earshot::cli::report_error(
            command, earshot::Error(earshot::ErrorCode::kUnavailable, "out of memory"));
    } catch (const std::exception& e) {
        return earshot::cli::report_error(command,
                                          earshot::Error(earshot::ErrorCode::kInternal, e.what()));
    }
    return 0;
}
