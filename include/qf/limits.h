/*
 * Every limit of Quantum Forge, named once, with its reason.
 * Untrusted input never grows anything past one of these.
 */
#ifndef QF_LIMITS_H
#define QF_LIMITS_H

/* Atoms in one molecule. xtb handles thousands (a 1029-atom GFN2 singlepoint
 * runs with an unlimited stack and one thread); beyond 10,000 a semiempirical
 * singlepoint takes hours and O(N^2) input checks stop being cheap. */
#define QF_MAX_ATOMS 10000

/* Bytes of one molecule input file read into memory. A 10,000-atom XYZ is
 * about 0.6 MB; multi-molecule batch files are streamed record by record but
 * are still capped so a wrong path (a disk image) fails fast. */
#define QF_MAX_INPUT_BYTES (256L * 1024 * 1024)

/* Bytes of one input line. Real XYZ/SDF/SMILES lines are < 200 bytes; a longer
 * line is garbage or a binary file. */
#define QF_MAX_LINE 4096

/* Characters of one SMILES string. RDKit 2022.09's parser is roughly cubic
 * in the length of an unbroken chain (C x 2000: 7 s, C x 3400: 45 s); drug
 * SMILES are < 200 characters, large macrocycles and peptides < 1000. */
#define QF_MAX_SMILES 1000

/* SMILES -> 3D (src/chem/rdkit.cpp): after the force-field clean-up, no two
 * atoms three or more bonds apart (or in different fragments) may be closer
 * than this, in Angstrom. Measured with RDKit's Python MMFF94 (complete
 * non-bonded terms) on the 212 molecules of bench/data/chembl-drug-like.smi
 * and ten intramolecular H-bond cases (salicylic acid, o-nitrophenol, ...):
 * the closest such pair of a real minimum is 1.505 A (an amide O and an
 * ortho aryl H), 1 % are below 1.70 A; the structures that collapsed under
 * a truncated force field (nonBondedThresh 10) had such pairs at 0.196 to
 * 1.47 A. 1.3 A keeps a 0.2 A margin below real contacts and catches the
 * collapses below it; the complete force field is what prevents the rest. */
#define QF_EMBED_MIN_CONTACT_A 1.3

/* Embeddings tried for one SMILES, each from the next seed of a fixed
 * sequence (so the same SMILES always gives the same geometry), before
 * giving up with input.embedding. 211 of the 212 bench molecules pass the
 * checks on the first, the other (a macrocycle whose ring E double bond
 * ETKDG's first seed makes Z) on the second; a few more tries cost little
 * where one seed lands in a bad basin, and each try is a full ETKDG + force
 * field, so not many. */
#define QF_EMBED_MAX_TRIES 5

/* Bounded embedding (include/qf/embed.h): SMILES are embedded in child
 * processes, each under an address-space limit, one molecule at a time under
 * a wall-time limit; past either the molecule fails with input.embedding and
 * the others go on. Overridable per batch (--embed-timeout, --embed-memory).
 * See the README for the measurements these come from. */
#define QF_EMBED_SECONDS 60.0
/* Atoms (with hydrogens) of a molecule made from SMILES. Measured with
 * `qforge embed --serve` on this project's 2-core machine: drug-like
 * molecules (bench/data, <= 100 atoms) take 0.05-0.5 s; unbranched alkanes,
 * the slowest shape per atom, take 0.27 s at 77 atoms, 1.4 s at 152, 6.1 s
 * at 227, 12.6 s at 302, 27.8 s at 377, 43.4 s at 452 (time grows as about
 * atoms^2.6). At 400 atoms the slowest case needs about half the time
 * limit, leaving room for a slower machine; past it a SMILES is refused at
 * once (input.embedding) instead of being tried for a minute. */
#define QF_MAX_SMILES_ATOMS 400
/* Conformers embedded for one SMILES (--conformers): each is a full ETKDG
 * embedding and force-field minimisation, so 50 cost 50 times one. */
#define QF_MAX_CONFORMERS 50
#define QF_EMBED_MEMORY_MB 2048L
/* Embedding processes at once: the cores, at most this many. */
#define QF_EMBED_MAX_PROCESSES 64

/* Length of a molecule name taken from a file (XYZ comment, SDF title, SMILES
 * name column). Longer names are truncated, never rejected. */
#define QF_MAX_NAME 256

/* Closest two atoms may be, in Angstrom. xtb only refuses exact overlap; at
 * 0.2 A it runs "successfully" to E = +5.13 Eh. The shortest real bond (H2)
 * is 0.74 A. */
#define QF_MIN_ATOM_DISTANCE 0.5

/* Coordinates beyond this magnitude (Angstrom) are not a molecule. */
#define QF_MAX_COORD 1.0e5

/* Captured xtb stdout / stderr per run. A 1000-atom optimisation prints a few
 * MB; past the cap the file is truncated with a marker and the run goes on. */
#define QF_MAX_CAPTURE_BYTES (64L * 1024 * 1024)

/* Tail of stderr/stdout kept in an error record. */
#define QF_ERR_TAIL_BYTES 4096

/* Address-space limit for one xtb process, in MiB (0 = unlimited). xtb's
 * memory grows ~N^2 (Hessians: 9N^2 doubles); 16 GiB covers 10,000 atoms
 * singlepoints on the 24 GiB machines we run on and stops a runaway. */
#define QF_XTB_MEMORY_MB 16384

/* Where Debian installs xtb's parameter files. XTBPATH is set to it (when
 * unset) for GFN0 only, whose parameters xtb 6.5.1 does not carry built in.
 * Never for GFN1/GFN2: with XTBPATH set xtb reads param_gfn2-xtb.txt instead
 * of its built-in parameters, which agree to the last bits only: singlepoint
 * energies stay equal to 1e-10 Eh, but optimisations of flexible molecules
 * then take another path, to another minimum (1.4e-4 Eh apart for
 * CHEMBL3688952, tests/integration/cli/test_run.c). Results must be those of
 * the plain `xtb` a chemist would run. */
#define QF_XTB_PARAM_DIR "/usr/share/xtb"

/* Default wall-time limit of one calculation, in seconds, when the spec does
 * not name one. */
#define QF_DEFAULT_TIMEOUT_S 3600.0

/* Most wall time a spec may ask for (7 days). */
#define QF_MAX_TIMEOUT_S (7.0 * 86400.0)

/* Grace between SIGTERM and SIGKILL of a timed-out xtb process group. xtb
 * deadlocked on SIGTERM in 3 of 17 runs, so the kill must follow. */
#define QF_KILL_GRACE_S 2.0

/* After the program we ran has exited (and its process group was killed),
 * how long we keep reading its output pipes for EOF, in seconds. A descendant
 * that left the group (setsid) can hold them open forever; its late output is
 * dropped after this. */
#define QF_PROC_DRAIN_S 1.0

/* Threads one xtb job may use. */
#define QF_MAX_THREADS 64

/* Above this many atoms an xtb job runs on one thread whatever the spec asks:
 * a 1029-atom GFN2 singlepoint died with SIGSEGV on 2 threads even with an
 * unlimited stack, and ran on 1 (notes/xtb-6.5.1.md, "Environment"). */
#define QF_XTB_MAX_ATOMS_THREADED 500

/* SCC iterations and optimisation cycles a spec may ask for. */
#define QF_MAX_SCC_ITERATIONS 10000
#define QF_MAX_OPT_CYCLES 100000

/* Unpaired electrons a spec may ask for. xtb 6.5.1 crashes (exit 134) on
 * impossible values; we also check against the electron count. */
#define QF_MAX_UHF 64

/* Total charge magnitude a spec may ask for. */
#define QF_MAX_ABS_CHARGE 64

/* Electronic temperature bounds (K): xtb accepts anything, but outside this
 * range results are meaningless. */
#define QF_MIN_ETEMP 1.0
#define QF_MAX_ETEMP 50000.0

/* xtb accuracy parameter bounds (xtb's own documented range). */
#define QF_MIN_ACCURACY 0.0001
#define QF_MAX_ACCURACY 1000.0

/* Length of a filesystem path we build. */
#define QF_MAX_PATH 4096

/* A qf_err message. */
#define QF_MAX_ERR_MSG 1024

/* PostgreSQL connections one process keeps (qf_store_opts.pool_size). Each
 * is a server process of ~10 MB, and the server's default max_connections is
 * 100 for every worker and server process together. */
#define QF_MAX_PG_POOL 32
/* Reading connections of an SQLite store besides its one writing
 * connection: in WAL mode a read transaction on one of them waits neither
 * for the writer (the usage log's batches, recorded results) nor for the
 * other readers, so the HTTP threads (one per core) read at once. Each
 * has a page cache of its own (8 MiB; the writer's is 32 MiB). */
#define QF_SQLITE_READERS 2

/* Bytes of one text value written through the generic store API (names,
 * messages, notes). Columns with a natural bound use a smaller one (see the
 * catalogue, src/store/catalog.c); captured program output has its own. */
#define QF_STORE_MAX_TEXT 65536

/* Bytes of one JSON value (serialised) stored in a json column. The results
 * of a 10,000-atom Hessian (frequencies, intensities, geometry, gradient)
 * are about 3 MB. */
#define QF_STORE_MAX_JSON (16L * 1024 * 1024)

/* Bytes of xtb stdout/stderr copied into calculation_execution_metrics when
 * logs are kept (the tail; the full files stay in the job directory). */
#define QF_STORE_MAX_LOG_BYTES (1024L * 1024)

/* Jobs recorded per store transaction by `qforge reindex` and the store
 * benchmark. 500 jobs of 40 atoms are ~25,000 rows: the commit (an fsync) is
 * amortised, while one transaction stays short enough not to hold locks or
 * grow the SQLite WAL for long, and a failing chunk loses little work. */
#define QF_RECORD_CHUNK 500

/* A vibrational mode counts as imaginary when its frequency is below
 * -QF_IMAG_THRESHOLD cm^-1. The 6 (5 for linear) translation/rotation modes
 * of xtb's numerical Hessian come out within a few cm^-1 of zero with either
 * sign; xtb's own thermochemistry uses the same cut-off ("imag. cutoff
 * -20.0 cm-1") when it counts "# imaginary freq.". */
#define QF_IMAG_THRESHOLD 20.0

/* Bytes of one xtb output file read back after a run (xtbout.json, charges,
 * wbo, xtbopt.xyz, vibspectrum, gradient, xtbopt.log). The largest is the
 * optimisation trajectory xtbopt.log, ~0.7 MB per step at 10,000 atoms; a
 * longer trajectory is skipped (its energies are not kept), never read
 * past this. */
#define QF_XTB_MAX_FILE_BYTES (256L * 1024 * 1024)

/* Bytes of one message between a process and its xtb engine child
 * (include/qf/engine.h). A 10,000-atom GFN2 answer (gradient, charges, up to
 * 9 orbitals per atom with occupations, the bond list) is about 10 MB; the
 * cap stops a confused peer from making the other side allocate without
 * bound. */
#define QF_ENGINE_MAX_MESSAGE (64L * 1024 * 1024)

/* Seconds an engine child may take from fork to reporting ready: loading
 * libxtb, OpenBLAS and, in test builds, the sanitiser runtime. */
#define QF_ENGINE_START_TIMEOUT_S 60.0

/* Bytes of xtb's SCC printout an engine child reads back per calculation to
 * count the iterations: one ~80-byte line per iteration, so
 * QF_MAX_SCC_ITERATIONS of them are 0.8 MB. Past the cap the count is
 * unknown (-1). */
#define QF_ENGINE_MAX_LOG (4L * 1024 * 1024)

/* Attempts of one calculation before it fails for good (configurable per
 * worker and per submission). The seed's "timed out 3 times" rule. */
#define QF_DEFAULT_MAX_ATTEMPTS 3

/* Bytes of the input record a queued calculation keeps (the record as
 * given, read again by every attempt). A 10,000-atom SDF V3000 record is
 * about 1 MB; four times that leaves room for long property blocks. */
#define QF_QUEUE_MAX_INPUT_BYTES (4L * 1024 * 1024)

/* Calculations one qf_store_submit call queues: they go in one transaction,
 * which holds the SQLite write lock (and PostgreSQL row locks) while it
 * runs; a batch command submits a larger file in chunks. */
#define QF_QUEUE_MAX_SUBMIT 10000

/* Jobs one qf_store_claim call takes (a larger max is capped): a worker
 * runs one job per slot, and a claim that takes many keeps them from other
 * workers until their leases expire. */
#define QF_QUEUE_MAX_CLAIM 256

/* Claims one heartbeat renews (one transaction). */
#define QF_QUEUE_MAX_HEARTBEAT 4096

/* Longest lease a claim or heartbeat may ask for, in seconds. Leases are
 * renewed by heartbeats; a long one only delays the recovery of the job of
 * a worker that died. */
#define QF_QUEUE_MAX_LEASE_S 86400.0

/* Longest delay before a failed attempt may be claimed again (7 days):
 * backoff beyond that is a stuck job, not a retry. */
#define QF_QUEUE_MAX_RETRY_DELAY_S (7.0 * 86400.0)

/* Attempts a submission may allow one calculation. */
#define QF_QUEUE_MAX_ATTEMPTS 100

/* Default lease of a claimed job, in seconds: how long a worker may be
 * silent before its jobs are given to others. Heartbeats renew it every
 * sixth of that, so one or two lost heartbeats do not cost the job. */
#define QF_LEASE_S 60.0

/* Retry remedies for SCC convergence failures: iterations at least, and the
 * electronic temperatures tried (K) — xtb's own advice for hard cases. */
#define QF_RETRY_SCC_ITERATIONS 1000
#define QF_RETRY_ETEMP_1 1000.0
#define QF_RETRY_ETEMP_2 3000.0

/* Retry remedy for geometry convergence failures: optimisation cycles when
 * xtb chose them (0 in the spec). */
#define QF_RETRY_OPT_CYCLES 1000

/* ---- the HTTP server (qforge serve) --------------------------------------- */

/* argon2id cost of a password hash: libsodium's interactive limits (2 passes
 * over 64 MiB, ~50-100 ms here), the least the design allows; a stored hash
 * made with less is replaced at the next login. */
#define QF_ARGON2_OPSLIMIT 2ULL
#define QF_ARGON2_MEMLIMIT (64ULL * 1024 * 1024)

/* Password hashes computed at once: each takes QF_ARGON2_MEMLIMIT of memory,
 * so a burst of logins must wait rather than take the machine's memory. */
#define QF_MAX_CONCURRENT_PWHASH 4

/* Password length in bytes: 8 at least (NIST SP 800-63B), at most 1024 (a
 * passphrase; longer is a mistake or an attack on the hash). */
#define QF_MIN_PASSWORD 8
#define QF_MAX_PASSWORD 1024

/* Browser sessions: idle expiry (no request for this long) and absolute
 * expiry (since login), s. Retention deletes user_sessions idle 7 days. */
#define QF_SESSION_IDLE_S (12.0 * 3600.0)
#define QF_SESSION_MAX_S (7.0 * 86400.0)
/* A session's last_seen_at is written at most this often (s): every request
 * writing it would make each read a write. */
#define QF_SESSION_TOUCH_S 60.0

/* How long a verified session or API key is trusted from memory before the
 * store is asked again (s): the auth check of a busy client costs no
 * database round trip, and a logout or revocation on another server of the
 * same store takes effect within this time (at once on this one). */
#define QF_AUTH_CACHE_TTL_S 5.0
/* Entries of that cache (tokens in use at once). */
#define QF_AUTH_CACHE_ENTRIES 4096

/* Failed logins: after QF_LOGIN_FREE_FAILURES failures for one e-mail
 * address or one client address, each further attempt must wait twice as
 * long as the last (from 1 s, at most QF_LOGIN_MAX_DELAY_S); a success
 * clears the address's count. */
#define QF_LOGIN_FREE_FAILURES 5
#define QF_LOGIN_MAX_DELAY_S 900.0
/* E-mail addresses and client addresses whose failures are remembered. */
#define QF_LOGIN_TRACKED 8192

/* Two-factor codes: QF_TOTP_MAX_FAILURES wrong codes (or backup codes)
 * for one user within QF_TOTP_FAILURE_WINDOW_S of the first make the next
 * attempts wait until the window ends (429): a 6-digit code then takes an
 * attacker who has the password years, not hours. Users remembered. */
#define QF_TOTP_MAX_FAILURES 5
#define QF_TOTP_FAILURE_WINDOW_S 300.0
#define QF_TOTP_TRACKED 8192

/* Scheduled retention in qforge serve (qf_store_purge): how often (s;
 * --retention-interval), and how soon after start-up the first run comes
 * (a server restarted more often than hourly still purges; not at once, so
 * that start-up does not wait for it). */
#define QF_RETENTION_INTERVAL_S 3600.0
#define QF_RETENTION_FIRST_S 60.0

/* Invitations (--registration invite) are valid this long (s). */
#define QF_INVITE_TTL_S (7.0 * 86400.0)

/* Connections: total, per client address, idle timeout (s). The thread pool
 * serves them with epoll; 1024 is far above what the store behind it can
 * answer, and a single address (a script gone wrong) gets a small share. */
#define QF_HTTP_MAX_CONNECTIONS 1024
#define QF_HTTP_MAX_PER_IP 128
#define QF_HTTP_TIMEOUT_S 30
/* GET /api/v1/calculations/{id} keeps the tail of an answer (per-atom rows
 * and molecule summary) per caller and calculation, reused while the
 * calculation's row reads byte for byte the same: this many slots, each
 * tail at most this size. */
#define QF_HTTP_CALC_TAILS 256
#define QF_HTTP_CALC_TAIL_MAX (256 * 1024)
/* Memory one connection may use for its headers and buffers (libmicrohttpd's
 * pool), and the header block we accept within it: larger headers get 431.
 * Twice the header block, for margin (test_server: headers just under it
 * are answered, over it 431); libmicrohttpd clears the pool for every request of a
 * kept-alive connection, so a larger one costs every request (128 KiB was
 * ~4% of a request's CPU under bench/api). */
#define QF_HTTP_CONNECTION_MEMORY (64 * 1024)
#define QF_HTTP_MAX_HEADER_BYTES (32 * 1024)
/* Request bodies: JSON documents and uploads of signed-in users (a batch
 * file of 100,000 drug-like SMILES is ~6 MB; 32 MB holds a 10,000-atom SDF
 * many times over), and of callers not signed in (register, login). */
#define QF_HTTP_MAX_BODY (32L * 1024 * 1024)
#define QF_HTTP_MAX_BODY_ANON (16L * 1024)
/* Nesting of a JSON request body: our documents nest 4 deep; jansson's own
 * limit (2048) is a stack, not a policy. */
#define QF_JSON_MAX_DEPTH 32
/* Nesting qf_json_write follows (it recurses): jansson's loader limit, so
 * that any document jansson parsed can be written back. */
#define QF_JSON_MAX_WRITE_DEPTH 2048
/* Rows one list request returns (cursor pagination beyond). */
#define QF_HTTP_DEFAULT_PAGE 50
#define QF_HTTP_MAX_PAGE 1000

/* Request rate per signed-in user (and per API key), and per client address
 * for callers who are not signed in: a token bucket refilled at this rate
 * per minute, holding a minute's worth; past it, 429 with Retry-After. */
#define QF_RATE_USER_PER_MIN 6000
#define QF_RATE_ANON_PER_MIN 120
/* Clients whose buckets are kept (least recently seen dropped first). */
#define QF_RATE_TRACKED 16384

/* Quotas a user gets unless users.max_concurrent_jobs / storage_quota_mb
 * say otherwise: calculations queued or running at once (a submission past
 * it is refused with 429 quota.active_jobs), molecules in one batch, and
 * MiB of the user's molecules and results in the store
 * (qf_store_storage_used; a molecule or an upload past it is refused with
 * 413 quota.storage). */
#define QF_QUOTA_ACTIVE_JOBS 100000
#define QF_QUOTA_BATCH_MOLECULES 100000
#define QF_QUOTA_STORAGE_MB 10240.0
/* The active-jobs quota: a server counts a user's queued and running
 * calculations in the store at most once per this many seconds and adds
 * what it admitted since; a refusal is always decided on a fresh count. So
 * over the quota go at most the submissions other servers admitted within
 * it. */
#define QF_QUOTA_RECOUNT_SECONDS 1.0
/* The storage quota's count reads every byte of the user's molecules and
 * results (100,000 drug-like molecules: hundreds of MB), so it is made at
 * most once a minute while uploads are admitted, and at most once a second
 * when one would be refused: a refusal rests on a count at most a second
 * old plus this server's estimate of what it admitted since (this server's
 * own deletes make the next request count again). */
#define QF_QUOTA_STORAGE_RECOUNT_SECONDS 60.0
#define QF_QUOTA_STORAGE_REFUSE_SECONDS 1.0
/* Users whose counts are kept (least recently counted dropped first). */
#define QF_QUOTA_TRACKED 4096
/* Bytes stored per byte of a molecule record as given, for the storage
 * quota's estimate of what an upload adds before the next recount (the
 * record kept as given, its coordinates and atoms as JSON: a water XYZ
 * record of 70 bytes takes about 170). */
#define QF_QUOTA_STORED_PER_BYTE 3

/* API usage log and audit entries waiting to be written by the writer
 * thread (off the request path); past it, entries are dropped and counted
 * (qforge_usage_log_dropped_total) rather than slowing requests down. */
#define QF_USAGE_QUEUE 65536
/* Rows the writer puts in one transaction, and how often it writes (s). */
#define QF_USAGE_BATCH 2000
#define QF_USAGE_FLUSH_S 0.25

/* Server-Sent Events: subscribers at once, how often the store is asked
 * what changed (s), how far back each look reaches (s: a transaction that
 * committed late with an earlier updated_at is still seen), and the
 * keep-alive comment interval (s). */
#define QF_SSE_MAX_CLIENTS 256
#define QF_SSE_POLL_S 0.25
#define QF_SSE_LOOKBACK_S 5.0
#define QF_SSE_KEEPALIVE_S 15.0
/* Bytes of events waiting for one slow subscriber before it is dropped. */
#define QF_SSE_MAX_PENDING (1024 * 1024)

/* Worker processes qforge serve supervises, and the restart backoff of one
 * that died: from 1 s doubling to 60 s; a worker that ran this long is
 * healthy again (backoff reset). */
#define QF_SERVE_MAX_WORKERS 256
#define QF_WORKER_RESTART_MAX_S 60.0
#define QF_WORKER_HEALTHY_S 60.0

/* A job file downloaded over HTTP (xtb's outputs; a trajectory can be
 * large, the store keeps the tail of the logs only). */
#define QF_HTTP_MAX_DOWNLOAD (512L * 1024 * 1024)

/* SMILES over HTTP are embedded during the request (include/qf/embed.h,
 * bounded per molecule): at most this many requests embed at once, each
 * with the cores' embedding processes; more answer 503 with Retry-After. */
#define QF_HTTP_EMBED_REQUESTS 2
/* SMILES records of one upload: 1,000 drug-like SMILES take about a minute
 * on 2 cores; larger files go through `qforge batch submit`. */
#define QF_HTTP_MAX_SMILES_BATCH 1000
/* ---- Slurm (qforge slurm; include/qf/slurm.h) ---- */

/* Tasks of one job array: Slurm's default MaxArraySize is 1001 (indices
 * 0..1000); a site that allows more still gets arrays this large. */
#define QF_SLURM_MAX_WORKERS 1000
/* CPUs one worker may ask for (its --concurrency follows). */
#define QF_SLURM_MAX_CPUS 1024
/* Extra #SBATCH lines and worker arguments, each at most this long: a script
 * stays readable, and nothing from a command line grows it without bound. */
#define QF_SLURM_MAX_EXTRA_ARGS 64
#define QF_SLURM_MAX_ARG_BYTES 1024
/* A partition (list), account or job name given to qforge slurm: Slurm's
 * own names are short; anything longer is a mistake. */
#define QF_SLURM_MAX_NAME 64
/* The generated script (the options above fit many times over). */
#define QF_SLURM_MAX_SCRIPT_BYTES (256L * 1024)
/* Output read back from squeue / sacct: a user's whole queue of large
 * arrays, one line per task. */
#define QF_SLURM_MAX_OUTPUT_BYTES (16L * 1024 * 1024)
/* Longest wait for one Slurm program (sbatch, squeue, sacct, scancel): its
 * own MessageTimeout is 10 s by default, with retries. */
#define QF_SLURM_TOOL_TIMEOUT_S 120.0
/* Default warning before the time limit (--signal=B:TERM@N), in seconds:
 * the worker drains, then, before the limit, gives back what still runs. */
#define QF_SLURM_DRAIN_S 120
/* The password file line (host:port:db:user:password) and the file. */
#define QF_SLURM_MAX_PASSFILE_BYTES (1024L * 1024)
/* ---- descriptors, queries and exports (issue 9) ---------------------------- */

/* Wall time and address space of one `obabel` run perceiving the bonds of
 * one molecule from its geometry. A 10,000-atom protein takes Open Babel
 * about a second; a hung or runaway run is killed. */
#define QF_OBABEL_TIMEOUT_S 60.0
#define QF_OBABEL_MEMORY_MB 4096

/* Molecules whose descriptors one store round trip fetches (qforge props
 * recompute, workers): their geometries are held in memory meanwhile. */
#define QF_PROPS_CHUNK 64

/* Molecules a worker describes between two jobs: descriptors must not hold
 * up calculations (an XYZ molecule costs one obabel run, ~20 ms). */
#define QF_PROPS_WORKER_STEP 8

/* Bytes of one query text (an ASE-style filter, or a PostgREST query
 * string with its headers): real filters are < 1 KB. */
#define QF_QUERY_MAX_TEXT 16384

/* Nodes (conditions, and/or/not) of one filter, and the nesting depth of
 * parentheses: the parsers recurse once per level, and every condition
 * becomes SQL. */
#define QF_QUERY_MAX_NODES 128
#define QF_QUERY_MAX_DEPTH 16

/* Values of one filter (in-lists included): each is one bound parameter,
 * and a statement has at most QF__MAX_PARAMS (src/store/store_int.h), a
 * few of which scoping uses. */
#define QF_QUERY_MAX_VALUES 120

/* Columns selected and ordered on by one query. */
#define QF_QUERY_MAX_SELECT 64
#define QF_QUERY_MAX_ORDER 8

/* Bytes of one text value in a filter (a name pattern, a SMILES). */
#define QF_QUERY_MAX_VALUE_TEXT 1024

/* Rows an exporter holds at once (PostgreSQL fetches the cursor this many
 * rows at a time; their atoms are fetched together): memory stays flat
 * whatever the size of the export. */
#define QF_EXPORT_CHUNK 256

/* ---- notifications (issue 11, src/notify/) ------------------------------------ */

/* Sends of one notification before it is given up (final failure, written
 * to the audit log): with the backoff below, the last try comes about
 * 30 s * (2^7 - 1) ~ one hour after the first, long enough to ride out a
 * receiver's restart, short enough that a message is not days late. */
#define QF_NOTIFY_MAX_ATTEMPTS 8
/* The wait after the first failed try; it doubles after each one
 * (exponential backoff), up to QF_NOTIFY_BACKOFF_MAX_S. The operator may
 * lower the base (qforge serve --notify-backoff, the tests use 0.2 s) but
 * not under QF_NOTIFY_BACKOFF_MIN_S, which keeps a broken receiver from
 * being hammered. */
#define QF_NOTIFY_BACKOFF_BASE_S 30.0
#define QF_NOTIFY_BACKOFF_MIN_S 0.1
#define QF_NOTIFY_BACKOFF_MAX_S 3600.0
/* How long a claimed notification stays the claimer's (a sender that died
 * mid-send gives it back then): more than one send's timeouts. */
#define QF_NOTIFY_LEASE_S 120.0
/* One send: connecting, and all of it (Slack answers in well under a
 * second; an SMTP server may greylist for a while). */
#define QF_NOTIFY_CONNECT_TIMEOUT_S 10L
#define QF_NOTIFY_TIMEOUT_S 30L
/* Notifications one pass of the sender claims (one at a time is sent). */
#define QF_NOTIFY_BATCH 16
/* How often the sender looks for due notifications when nobody wakes it
 * (new rows come from workers, in other processes). */
#define QF_NOTIFY_POLL_S 1.0
/* Bytes of a receiver's answer read (then dropped: never shown to anyone),
 * of a stored last_error, of a message body, and of a webhook address. */
#define QF_NOTIFY_MAX_RESPONSE 8192
#define QF_NOTIFY_MAX_ERROR 512
#define QF_NOTIFY_MAX_MESSAGE 16384
#define QF_NOTIFY_MAX_URL 1024
/* Entries of the operator's allow-list (--notify-allow). */
#define QF_NOTIFY_MAX_ALLOW 32
/* Addresses one webhook host may resolve to (every one is checked). */
#define QF_NOTIFY_MAX_ADDRS 16
/* The operator's SMTP user name and password (--smtp-user,
 * --smtp-password-file): the operator's own input, but a file named by
 * mistake (a key, a log) is refused rather than read whole and sent. */
#define QF_SMTP_MAX_USER 256
#define QF_SMTP_MAX_PASSWORD 256

#endif
