/*
 * Functions that must not appear in Quantum Forge C sources. Force-included
 * into every C translation unit of libqf and its programs (see CMakeLists.txt);
 * using one is a compile error. Reasons: unbounded writes (strcpy, strcat,
 * sprintf, vsprintf, gets), hidden state (strtok), a shell with interpolated
 * strings (system, popen), silent failure on untrusted numbers (atoi, atol).
 */
#ifndef QF_BANNED_H
#define QF_BANNED_H

/* The standard headers first, so their own declarations are not rewritten. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QF_BANNED(func) sorry_##func##_is_banned_in_quantum_forge

#undef strcpy
#define strcpy(...) QF_BANNED(strcpy)
#undef strcat
#define strcat(...) QF_BANNED(strcat)
#undef sprintf
#define sprintf(...) QF_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) QF_BANNED(vsprintf)
#undef gets
#define gets(...) QF_BANNED(gets)
#undef strtok
#define strtok(...) QF_BANNED(strtok)
#undef system
#define system(...) QF_BANNED(system)
#undef popen
#define popen(...) QF_BANNED(popen)
#undef atoi
#define atoi(...) QF_BANNED(atoi)
#undef atol
#define atol(...) QF_BANNED(atol)

#endif
