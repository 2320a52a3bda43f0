// spiree instruction counter: a QEMU TCG plugin (qemu-user, plugin API version 1 = QEMU 7.2)
// counting the guest instructions a program executes, split into IREE's loaded executable code
// and everything else, with the executable code attributed per entry point.
//
//   qemu-aarch64 -plugin /path/insn_count.so,out=/tmp/report.txt  prog args...
//
// How it attributes instructions:
// - *Code regions*: every `mprotect(addr, len, prot)` with PROT_EXEC the guest makes. IREE's
//   embedded-ELF loader maps each executable's segments into anonymous memory and flips the text
//   segment to read+execute with such a call (the dynamic linker maps shared libraries with
//   `mmap`, which is not a region). At that moment the region's bytes are final; the plugin copies
//   them to `<out>.region<N>` so the caller can check which ELF they are, byte for byte.
// - Every translation block gets an execution callback (per guest thread = vCPU). A block outside
//   every region adds its instruction count to that thread's `outside` counter; a block inside a
//   region adds it to the thread's current *entry*: the address where that thread last came into
//   region code from outside. IREE's runtime calls each dispatch function through a pointer, so
//   an entry is a dispatch function, and the kernels it calls (same region) count towards it.
// - A block is counted whole when it starts executing (QEMU's usual convention).
//
// Entries are shared between threads and their counters are plain (not atomic): for exact
// per-entry counts run the guest's dispatches on one thread (IREE's local-sync device). The
// report lists each thread's instructions outside and inside regions, so a caller can check that.
//
// Report (text, one record per line):
//   spiree-insn-count 1
//   vcpu <index> <instructions outside regions> <instructions inside regions>
//   region <index> <start hex> <length> <dump file>
//   entry <region index> <address hex> <instructions> <times entered>
//   error <message>                       (only if something went wrong)
//
// The QEMU plugin API header is not packaged on Debian: the few declarations used are below,
// written from QEMU 7.2's include/qemu/qemu-plugin.h (API version 1).

#include <stdbool.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//===----------------------------------------------------------------------===//
// QEMU plugin API subset (version 1)
//===----------------------------------------------------------------------===//

#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))

typedef uint64_t qemu_plugin_id_t;

typedef struct qemu_info_t {
  const char* target_name;
  struct {
    int min;
    int cur;
  } version;
  bool system_emulation;
  union {
    struct {
      int smp_vcpus;
      int max_vcpus;
    } system;
  };
} qemu_info_t;

struct qemu_plugin_tb;
struct qemu_plugin_insn;

enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };

typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void* userdata);
typedef void (*qemu_plugin_vcpu_simple_cb_t)(qemu_plugin_id_t id, unsigned int vcpu_index);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void* userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb* tb);
typedef void (*qemu_plugin_vcpu_syscall_cb_t)(qemu_plugin_id_t id, unsigned int vcpu_index, int64_t num,
                                              uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
                                              uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8);

void qemu_plugin_register_vcpu_init_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_simple_cb_t cb);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb* tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void* userdata);
void qemu_plugin_register_vcpu_syscall_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_syscall_cb_t cb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void* userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb* tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb* tb);
struct qemu_plugin_insn* qemu_plugin_tb_get_insn(const struct qemu_plugin_tb* tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn* insn);
void* qemu_plugin_insn_haddr(const struct qemu_plugin_insn* insn);
void qemu_plugin_outs(const char* string);

QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;

//===----------------------------------------------------------------------===//
// State
//===----------------------------------------------------------------------===//

// aarch64 Linux syscall number and protection bit (asm-generic).
#define SYS_MPROTECT 226
#define GUEST_PROT_EXEC 0x4

#define MAX_REGIONS 256
#define MAX_VCPUS 256
#define ENTRY_BUCKETS 4096

typedef struct {
  uint64_t start, length;
} region_t;

typedef struct entry {
  uint64_t vaddr;
  int region;
  uint64_t insns;
  uint64_t entered;
  struct entry* next;  // hash chain
} entry_t;

// What a translated block needs when it runs (allocated once per translation, never freed).
typedef struct {
  uint64_t vaddr;
  uint64_t n_insns;
  int region;  // -1: outside every region
} block_t;

typedef struct {
  uint64_t outside, inside;
  entry_t* current;  // entry of the region code this thread is in; NULL when outside
} vcpu_t;

static char out_path[4096];
static vcpu_t vcpus[MAX_VCPUS];
static unsigned max_vcpu_seen;
static region_t regions[MAX_REGIONS];
static int n_regions;
static entry_t* entries[ENTRY_BUCKETS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;  // regions, entries, failure
static bool have_host_delta;
static intptr_t host_delta;  // host address - guest address (qemu-user maps guest memory linearly)
static bool failed;
static char failure[512];

static void fail(const char* msg) {
  if (!failed) {
    failed = true;
    snprintf(failure, sizeof failure, "%s", msg);
  }
}

// The entry for (region, vaddr), created on first use. Called with `lock` held.
static entry_t* entry_for(int region, uint64_t vaddr) {
  size_t h = (size_t)(((vaddr >> 2) ^ (uint64_t)region * 0x9E3779B97F4A7C15ull) % ENTRY_BUCKETS);
  for (entry_t* e = entries[h]; e; e = e->next)
    if (e->vaddr == vaddr && e->region == region) return e;
  entry_t* e = calloc(1, sizeof *e);
  if (!e) {
    fail("out of memory");
    return NULL;
  }
  e->vaddr = vaddr;
  e->region = region;
  e->next = entries[h];
  entries[h] = e;
  return e;
}

// The newest region holding `vaddr` (an address range can be unmapped and reused), or -1.
// Called with `lock` held.
static int region_of(uint64_t vaddr) {
  for (int i = n_regions - 1; i >= 0; --i)
    if (vaddr - regions[i].start < regions[i].length) return i;
  return -1;
}

//===----------------------------------------------------------------------===//
// Callbacks
//===----------------------------------------------------------------------===//

static void on_block(unsigned int vcpu_index, void* userdata) {
  const block_t* b = userdata;
  if (vcpu_index >= MAX_VCPUS) {
    pthread_mutex_lock(&lock);
    fail("more than 256 guest threads");
    pthread_mutex_unlock(&lock);
    return;
  }
  vcpu_t* v = &vcpus[vcpu_index];
  if (b->region < 0) {
    v->outside += b->n_insns;
    v->current = NULL;
    return;
  }
  if (v->current == NULL || v->current->region != b->region) {
    // This thread came into region code from outside: a new entry (or one entered again).
    pthread_mutex_lock(&lock);
    v->current = entry_for(b->region, b->vaddr);
    if (v->current) v->current->entered++;
    pthread_mutex_unlock(&lock);
    if (!v->current) return;
  }
  v->inside += b->n_insns;
  v->current->insns += b->n_insns;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb* tb) {
  (void)id;
  uint64_t vaddr = qemu_plugin_tb_vaddr(tb);
  size_t n = qemu_plugin_tb_n_insns(tb);
  block_t* b = malloc(sizeof *b);
  pthread_mutex_lock(&lock);
  if (!have_host_delta && n > 0) {
    const struct qemu_plugin_insn* insn = qemu_plugin_tb_get_insn(tb, 0);
    void* host = qemu_plugin_insn_haddr(insn);
    if (host) {
      host_delta = (intptr_t)host - (intptr_t)qemu_plugin_insn_vaddr(insn);
      have_host_delta = true;
    }
  }
  if (!b) fail("out of memory");
  int region = region_of(vaddr);
  pthread_mutex_unlock(&lock);
  if (!b) return;
  b->vaddr = vaddr;
  b->n_insns = n;
  b->region = region;
  qemu_plugin_register_vcpu_tb_exec_cb(tb, on_block, QEMU_PLUGIN_CB_NO_REGS, b);
}

static void on_syscall(qemu_plugin_id_t id, unsigned int vcpu_index, int64_t num, uint64_t a1, uint64_t a2,
                       uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8) {
  (void)id, (void)vcpu_index, (void)a4, (void)a5, (void)a6, (void)a7, (void)a8;
  if (num != SYS_MPROTECT || !(a3 & GUEST_PROT_EXEC) || a2 == 0) return;
  pthread_mutex_lock(&lock);
  if (n_regions == MAX_REGIONS) {
    fail("more than 256 executable regions");
  } else if (!have_host_delta) {
    fail("no host address of guest code known before the first executable region");
  } else {
    int index = n_regions++;
    regions[index].start = a1;
    regions[index].length = a2;
    char path[4200];
    snprintf(path, sizeof path, "%s.region%d", out_path, index);
    FILE* f = fopen(path, "wb");
    if (!f || fwrite((const void*)(uintptr_t)(a1 + host_delta), 1, a2, f) != a2) fail("cannot write a region dump");
    if (f) fclose(f);
  }
  pthread_mutex_unlock(&lock);
}

static void on_vcpu_init(qemu_plugin_id_t id, unsigned int vcpu_index) {
  (void)id;
  pthread_mutex_lock(&lock);
  if (vcpu_index + 1 > max_vcpu_seen) max_vcpu_seen = vcpu_index + 1;
  pthread_mutex_unlock(&lock);
}

static void write_report(qemu_plugin_id_t id, void* userdata) {
  (void)id, (void)userdata;
  FILE* f = fopen(out_path, "w");
  if (!f) {
    qemu_plugin_outs("insn_count: cannot write the report\n");
    return;
  }
  pthread_mutex_lock(&lock);
  fprintf(f, "spiree-insn-count 1\n");
  if (failed) fprintf(f, "error %s\n", failure);
  for (unsigned i = 0; i < max_vcpu_seen && i < MAX_VCPUS; ++i)
    fprintf(f, "vcpu %u %llu %llu\n", i, (unsigned long long)vcpus[i].outside, (unsigned long long)vcpus[i].inside);
  for (int i = 0; i < n_regions; ++i)
    fprintf(f, "region %d %llx %llu %s.region%d\n", i, (unsigned long long)regions[i].start,
            (unsigned long long)regions[i].length, out_path, i);
  for (size_t h = 0; h < ENTRY_BUCKETS; ++h)
    for (entry_t* e = entries[h]; e; e = e->next)
      fprintf(f, "entry %d %llx %llu %llu\n", e->region, (unsigned long long)e->vaddr,
              (unsigned long long)e->insns, (unsigned long long)e->entered);
  pthread_mutex_unlock(&lock);
  fclose(f);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t* info, int argc, char** argv) {
  if (info->system_emulation) {
    qemu_plugin_outs("insn_count: user-mode emulation (qemu-<arch>) only\n");
    return 1;
  }
  for (int i = 0; i < argc; ++i)
    if (strncmp(argv[i], "out=", 4) == 0) snprintf(out_path, sizeof out_path, "%s", argv[i] + 4);
  if (!out_path[0]) {
    qemu_plugin_outs("insn_count: missing argument out=<report path>\n");
    return 1;
  }
  qemu_plugin_register_vcpu_init_cb(id, on_vcpu_init);
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
  qemu_plugin_register_vcpu_syscall_cb(id, on_syscall);
  qemu_plugin_register_atexit_cb(id, write_report, NULL);
  return 0;
}
