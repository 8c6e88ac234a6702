#include "pg_cluster.h"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <pwd.h>
#include <random>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>

namespace earshot::testing {
namespace fs = std::filesystem;

namespace {

std::string quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'')
            out += "'\\''";
        else
            out += c;
    }
    return out + "'";
}

fs::path find_bin() {
    if (const char* env = std::getenv("EARSHOT_PG_BIN"); env && *env)
        return env;
    fs::path best;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
        const fs::path bin = e.path() / "bin";
        if (fs::exists(bin / "initdb") &&
            (best.empty() || e.path().filename() > best.parent_path().filename()))
            best = bin;
    }
    return best;
}

}  // namespace

PgCluster::PgCluster() {
    bin_ = find_bin();
    if (bin_.empty()) {
        error_ = "no PostgreSQL server binaries (install Debian's postgresql; set EARSHOT_PG_BIN)";
        return;
    }
    std::string tmpl = (fs::temp_directory_path() / "earshot-pg-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) {
        error_ = "mkdtemp failed";
        return;
    }
    dir_ = tmpl;
    std::random_device rd;
    port_ = 20000 + static_cast<int>(rd() % 20000);  // names the socket file only (no TCP)
    if (geteuid() == 0) {
        struct passwd* pw = getpwnam("postgres");
        if (!pw) {
            error_ = "running as root but there is no `postgres` user to run the server as";
            return;
        }
        if (chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
            error_ = "cannot chown " + dir_.string();
            return;
        }
    }
    std::string out;
    if (!run(as_postgres(quote((bin_ / "initdb").string()) + " -D " +
                         quote((dir_ / "data").string()) +
                         " -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync"),
             &out)) {
        error_ = "initdb failed: " + out;
        return;
    }
    ok_ = start();
}

PgCluster::~PgCluster() {
    if (running_)
        stop();
    std::error_code ec;
    if (!dir_.empty())
        fs::remove_all(dir_, ec);
}

PgCluster& PgCluster::shared() {
    static PgCluster cluster;
    return cluster;
}

std::string PgCluster::as_postgres(const std::string& command) const {
    if (geteuid() != 0)
        return command;
    return "runuser -u postgres -- " + command;
}

bool PgCluster::run(const std::string& command, std::string* output) const {
    const std::string cmd = command + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    if (!p)
        return false;
    std::string out;
    std::array<char, 4096> buf{};
    while (std::fgets(buf.data(), static_cast<int>(buf.size()), p)) out += buf.data();
    const int rc = pclose(p);
    if (output)
        *output = out;
    return rc == 0;
}

bool PgCluster::start() {
    std::string out;
    const std::string opts = "-c listen_addresses='" + listen_addresses_ + "' -k " + dir_.string() +
                             " -p " + std::to_string(port_) +
                             " -c fsync=off -c full_page_writes=off -c max_connections=60";
    if (!run(as_postgres(quote((bin_ / "pg_ctl").string()) + " -D " +
                         quote((dir_ / "data").string()) + " -l " +
                         quote((dir_ / "server.log").string()) + " -w -t 60 -o " + quote(opts) +
                         " start"),
             &out)) {
        error_ = "pg_ctl start failed: " + out;
        return false;
    }
    running_ = true;
    return true;
}

bool PgCluster::listen_on(const std::string& addresses) {
    if (running_ && !stop())
        return false;
    listen_addresses_ = addresses;
    return start();
}

bool PgCluster::stop() {
    std::string out;
    const bool ok = run(as_postgres(quote((bin_ / "pg_ctl").string()) + " -D " +
                                    quote((dir_ / "data").string()) + " -w -t 60 -m fast stop"),
                        &out);
    running_ = false;
    return ok;
}

std::string PgCluster::uri(const std::string& database) const {
    return "postgresql://postgres@/" + database + "?host=" + dir_.string() +
           "&port=" + std::to_string(port_);
}

std::string PgCluster::psql(const std::string& database, const std::string& sql) const {
    std::string out;
    const bool ok = run(quote((bin_ / "psql").string()) + " -X -At -v ON_ERROR_STOP=1 " +
                            quote(uri(database)) + " -c " + quote(sql),
                        &out);
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return ok ? out : "ERROR: " + out;
}

std::string PgCluster::create_database(const std::string& name) {
    psql("postgres", "CREATE DATABASE \"" + name + "\"");
    return uri(name);
}

}  // namespace earshot::testing
