// A throwaway PostgreSQL cluster for tests (label `postgres`): initdb into a temp dir, pg_ctl start
// listening on a unix socket in that dir only (no TCP port), stopped and deleted by the
// destructor. The server refuses to run as root, so when the tests run as root the server
// binaries run as the `postgres` user (runuser). Binaries: $EARSHOT_PG_BIN, else the newest
// /usr/lib/postgresql/*/bin. fsync is off: data safety across OS crashes is not under test.
#pragma once

#include <filesystem>
#include <string>

namespace earshot::testing {

class PgCluster {
public:
    PgCluster();  // starts it; check ok() / error()
    ~PgCluster();
    PgCluster(const PgCluster&) = delete;
    PgCluster& operator=(const PgCluster&) = delete;

    // One cluster per test process, started on first use and stopped at exit.
    static PgCluster& shared();

    bool ok() const { return ok_; }
    const std::string& error() const { return error_; }

    // Creates a database; returns its URI (postgresql://postgres@/NAME?host=SOCKETDIR&port=P).
    std::string create_database(const std::string& name);
    std::string uri(const std::string& database) const;
    // Runs SQL through psql (-At); returns stdout, or "ERROR: ..." output on failure.
    std::string psql(const std::string& database, const std::string& sql) const;

    bool stop();
    bool start();
    // Also listens on TCP at these addresses (PostgreSQL's listen_addresses, e.g. "10.77.1.1";
    // "" = the unix socket only, the default), restarting the server. Connections from such
    // addresses need a pg_hba.conf line (data/pg_hba.conf, then a restart or reload).
    bool listen_on(const std::string& addresses);

    const std::filesystem::path& dir() const { return dir_; }
    int port() const { return port_; }

private:
    bool run(const std::string& command, std::string* output = nullptr) const;
    std::string as_postgres(const std::string& command) const;

    std::filesystem::path bin_;
    std::filesystem::path dir_;
    int port_ = 5432;
    std::string listen_addresses_;
    bool ok_ = false;
    bool running_ = false;
    std::string error_;
};

}  // namespace earshot::testing
