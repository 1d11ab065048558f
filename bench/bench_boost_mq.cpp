// The Boost.Interprocess message_queue baseline of `make bench` (built only
// when configure finds Boost's headers). One measurement per call:
//
//   bench_boost_mq SIZE COUNT PRODUCERS CONSUMERS
//
// creates a message_queue in shared memory (as deep as mproc's default 1 MiB
// queue holds SIZE-byte messages), forks the producer and consumer
// processes, moves COUNT messages of SIZE bytes, and prints messages per
// second on one line. bench_ring runs it between its own runs, so the
// figures sit next to mproc's from the same run.
#include <boost/interprocess/ipc/message_queue.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

namespace bip = boost::interprocess;

static double now()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void wait_gate(int fd[2])
{
    char c;
    close(fd[1]);
    while (read(fd[0], &c, 1) < 0 && errno == EINTR)
        ;
    close(fd[0]);
}

// A forked worker: opens the queue by name, waits at the gate, moves its share.
static int worker(const std::string &name, int gate[2], bool producer, size_t size, long count)
{
    try {
        bip::message_queue mq(bip::open_only, name.c_str());
        std::vector<char> buf(size);
        wait_gate(gate);
        for (long i = 0; i < count; i++) {
            if (producer) {
                mq.send(buf.data(), size, 0);
            } else {
                bip::message_queue::size_type got;
                unsigned prio;
                mq.receive(buf.data(), size, got, prio);
                if (got != size)
                    return 2;
            }
        }
        return 0;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "bench_boost_mq worker: %s\n", e.what());
        return 1;
    }
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        std::fprintf(stderr, "usage: bench_boost_mq SIZE COUNT PRODUCERS CONSUMERS\n");
        return 2;
    }
    size_t size = std::strtoul(argv[1], nullptr, 10);
    long count = std::strtol(argv[2], nullptr, 10);
    int producers = std::atoi(argv[3]), consumers = std::atoi(argv[4]);
    if (size == 0 || count <= 0 || producers < 1 || consumers < 1 || count % producers != 0 ||
        count % consumers != 0) {
        std::fprintf(stderr, "bench_boost_mq: bad arguments\n");
        return 2;
    }
    // as many messages as mproc's queue of the same bench holds: 1 MiB of
    // storage at 32 bytes of bookkeeping each, or 16 large messages
    size_t depth = size > 4096 ? 16 : (1u << 20) / (32 + (size + 7) / 8 * 8);
    std::string name = "mproc-bench-boost-" + std::to_string(getpid());
    bip::message_queue::remove(name.c_str());
    int status = 0;
    try {
        bip::message_queue mq(bip::create_only, name.c_str(), depth, size);
        int gate[2];
        if (pipe(gate) != 0)
            throw std::runtime_error("pipe");
        std::vector<pid_t> kids;
        for (int i = 0; i < producers + consumers; i++) {
            bool producer = i < producers;
            pid_t pid = fork();
            if (pid < 0)
                throw std::runtime_error("fork");
            if (pid == 0)
                _exit(worker(name, gate, producer, size, count / (producer ? producers : consumers)));
            kids.push_back(pid);
        }
        double t0 = now();
        close(gate[0]);
        close(gate[1]);
        for (pid_t kid : kids) {
            int st;
            if (waitpid(kid, &st, 0) != kid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                status = 1;
        }
        double secs = now() - t0;
        if (status == 0)
            std::printf("%.0f\n", (double)count / secs);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "bench_boost_mq: %s\n", e.what());
        status = 1;
    }
    bip::message_queue::remove(name.c_str());
    return status;
}
