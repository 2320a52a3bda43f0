// spiree wasm bridge: runs IREE's wasm32 executables inside Wasmtime on behalf of the stock
// (64-bit) IREE runtime.
//
// A wasm32 artifact's executables are emscripten-style side modules that export
// `iree_hal_executable_library_query` (IREE executable library ABI v0, minor version 6). The host
// twin of such an artifact replaces each wasm executable by a tiny shared library (stub.c) whose
// query forwards to `spiree_wasm_query` below with the sha256 of the wasm bytes. Python registers
// those bytes first (`spiree_wasm_register`): this file compiles them with Wasmtime (Cranelift),
// instantiates them into their own store and linear memory, calls the wasm library query, and
// builds the equivalent 64-bit host library whose dispatch functions forward into wasm.
//
// One dispatch = one host call: the workgroup (0,0,0) call maps the bindings into linear memory,
// runs the whole workgroup grid inside wasm and writes back the bytes the dispatch changed; the
// other workgroup calls return at once (see dispatch_slot).
//
// Bindings:
// - inside a host range registered as constant (the twin vmfb's own bytes: weights imported from
//   rodata) they are copied into linear memory once and stay resident;
// - all others (overlapping bindings merged into one host range) have a *mirror*: a copy in
//   linear memory plus a host snapshot of what that copy held when it last matched host memory.
//   Before a dispatch the bridge compares host memory with the snapshot in 64-byte chunks and
//   copies in only the chunks something else changed (IREE fills, the caller's inputs, other
//   executables); after the grid it writes back only the 4-byte words wasm changed, so
//   concurrent commands writing other parts of the same buffer (IREE runs fills beside
//   dispatches under local-task) stay correct. Host bytes are read once per chunk, into the snapshot, and wasm
//   gets the snapshot's copy, so the two always agree.
//
// The struct layouts below are spiree's own definitions of the ABI, checked against the LLVM IR
// IREE 3.13 emits (`--iree-hal-dump-executable-intermediates-to`). The Wasmtime C API subset is
// declared here too: the wasmtime wheel ships `_libwasmtime.so` without headers.

#define _GNU_SOURCE
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//===----------------------------------------------------------------------===//
// Wasmtime C API subset (wasmtime 50)
//===----------------------------------------------------------------------===//

typedef struct wasm_engine_t wasm_engine_t;
typedef struct wasmtime_store wasmtime_store_t;
typedef struct wasmtime_context wasmtime_context_t;
typedef struct wasmtime_module wasmtime_module_t;
typedef struct wasmtime_error wasmtime_error_t;
typedef struct wasmtime_linker wasmtime_linker_t;
typedef struct wasm_trap_t wasm_trap_t;
typedef struct wasm_memorytype_t wasm_memorytype_t;
typedef struct wasm_tabletype_t wasm_tabletype_t;
typedef struct wasm_globaltype_t wasm_globaltype_t;
typedef struct wasm_valtype_t wasm_valtype_t;

typedef struct {
  size_t size;
  char* data;
} wt_byte_vec_t;
typedef struct {
  uint32_t min, max;
} wt_limits_t;
typedef struct {
  uint64_t store_id;
  void* private_;
} wt_func_t;
typedef struct {
  struct {
    uint64_t store_id;
    uint32_t p1;
  } a;
  uint32_t p2;
} wt_table_t, wt_memory_t, wt_tag_t;
typedef struct {
  uint64_t store_id;
  uint32_t p1, p2, p3;
} wt_global_t;
typedef struct {
  uint64_t store_id;
  uint32_t p1, p2;
  void* p3;
} wt_ref_t;
typedef union {
  int32_t i32;
  int64_t i64;
  float f32;
  double f64;
  wt_ref_t anyref;
  wt_func_t funcref;
  uint8_t v128[16];
} wt_valunion_t;
typedef struct {
  uint8_t kind;
  wt_valunion_t of;
} wt_val_t;
typedef union {
  wt_func_t func;
  wt_global_t global;
  wt_table_t table;
  wt_memory_t memory;
  void* sharedmemory;
  wt_tag_t tag;
} wt_extern_union_t;
typedef struct {
  uint8_t kind;
  wt_extern_union_t of;
} wt_extern_t;
typedef struct {
  uint64_t store_id;
  size_t private_;
} wt_instance_t;

enum { WT_I32 = 0, WT_FUNCREF = 5 };
enum { WT_EXTERN_FUNC = 0, WT_EXTERN_GLOBAL = 1, WT_EXTERN_TABLE = 2, WT_EXTERN_MEMORY = 3 };
enum { WASM_VALKIND_I32 = 0, WASM_VALKIND_FUNCREF = 129 };
enum { WASM_CONST = 0, WASM_VAR = 1 };

wasm_engine_t* wasm_engine_new(void);
wasmtime_store_t* wasmtime_store_new(wasm_engine_t*, void*, void (*)(void*));
void wasmtime_store_delete(wasmtime_store_t*);
wasmtime_context_t* wasmtime_store_context(wasmtime_store_t*);
wasmtime_error_t* wasmtime_module_new(wasm_engine_t*, const uint8_t*, size_t, wasmtime_module_t**);
void wasmtime_module_delete(wasmtime_module_t*);
void wasmtime_error_message(const wasmtime_error_t*, wt_byte_vec_t*);
void wasmtime_error_delete(wasmtime_error_t*);
void wasm_byte_vec_delete(wt_byte_vec_t*);
void wasm_trap_message(const wasm_trap_t*, wt_byte_vec_t*);
void wasm_trap_delete(wasm_trap_t*);
wasm_memorytype_t* wasm_memorytype_new(const wt_limits_t*);
void wasm_memorytype_delete(wasm_memorytype_t*);
wasmtime_error_t* wasmtime_memory_new(wasmtime_context_t*, const wasm_memorytype_t*, wt_memory_t*);
uint8_t* wasmtime_memory_data(const wasmtime_context_t*, const wt_memory_t*);
size_t wasmtime_memory_data_size(const wasmtime_context_t*, const wt_memory_t*);
wasmtime_error_t* wasmtime_memory_grow(wasmtime_context_t*, const wt_memory_t*, uint64_t, uint64_t*);
wasm_valtype_t* wasm_valtype_new(uint8_t);
wasm_tabletype_t* wasm_tabletype_new(wasm_valtype_t*, const wt_limits_t*);
void wasm_tabletype_delete(wasm_tabletype_t*);
wasmtime_error_t* wasmtime_table_new(wasmtime_context_t*, const wasm_tabletype_t*, const wt_val_t*,
                                     wt_table_t*);
bool wasmtime_table_get(wasmtime_context_t*, const wt_table_t*, uint64_t, wt_val_t*);
wasm_globaltype_t* wasm_globaltype_new(wasm_valtype_t*, uint8_t);
void wasm_globaltype_delete(wasm_globaltype_t*);
wasmtime_error_t* wasmtime_global_new(wasmtime_context_t*, const wasm_globaltype_t*,
                                      const wt_val_t*, wt_global_t*);
wasmtime_error_t* wasmtime_global_set(wasmtime_context_t*, const wt_global_t*, const wt_val_t*);
wasmtime_linker_t* wasmtime_linker_new(wasm_engine_t*);
void wasmtime_linker_delete(wasmtime_linker_t*);
wasmtime_error_t* wasmtime_linker_define(wasmtime_linker_t*, wasmtime_context_t*, const char*,
                                         size_t, const char*, size_t, const wt_extern_t*);
wasmtime_error_t* wasmtime_linker_instantiate(const wasmtime_linker_t*, wasmtime_context_t*,
                                              const wasmtime_module_t*, wt_instance_t*,
                                              wasm_trap_t**);
bool wasmtime_instance_export_get(wasmtime_context_t*, const wt_instance_t*, const char*, size_t,
                                  wt_extern_t*);
wasmtime_error_t* wasmtime_func_call(wasmtime_context_t*, const wt_func_t*, const wt_val_t*,
                                     size_t, wt_val_t*, size_t, wasm_trap_t**);

//===----------------------------------------------------------------------===//
// IREE executable library ABI v0.6 (spiree's definitions)
//===----------------------------------------------------------------------===//

#define LIBRARY_VERSION 6u
#define WASM_PAGE 65536u
#define WORKGROUP_LOCAL_PAGE 4096u

// Host (64-bit) side: what the stock runtime reads and passes.
typedef struct {
  uint32_t version;
  const char* name;
  uint32_t features;
  int32_t sanitizer;
} h_header_t;

typedef struct {
  uint64_t flags;
  uint16_t local_memory_pages;
  uint8_t constant_count;
  uint8_t binding_count;
  uint32_t workgroup_size[2];
  uint16_t workgroup_size_z;
  uint16_t parameter_count;
  uint64_t reserved[5];
} dispatch_attrs_t;  // no pointers: identical in wasm32 and 64-bit hosts
_Static_assert(sizeof(dispatch_attrs_t) == 64, "attrs layout");

typedef struct {
  uint8_t type;
  uint8_t size;
  uint16_t flags;
  uint16_t name;
  uint16_t offset;
} dispatch_param_t;  // no pointers either
_Static_assert(sizeof(dispatch_param_t) == 8, "param layout");

typedef int (*h_dispatch_fn_t)(const void* env, const void* dispatch_state,
                               const void* workgroup_state);

typedef struct {
  const h_header_t* header;
  struct {
    uint32_t count;
    const char* const* symbols;
  } imports;
  struct {
    uint32_t count;
    const h_dispatch_fn_t* ptrs;
    const dispatch_attrs_t* attrs;
    const dispatch_param_t* const* params;
    const int32_t* occupancy;
    const char* const* names;
    const char* const* tags;
    const char* const* parameter_names;
    const void* source_locations;
    const void* stage_locations;
  } exports;
  struct {
    uint32_t count;
  } constants;
  struct {
    uint32_t count;
    const void* files;
  } sources;
} h_library_t;

typedef struct {
  const uint32_t* constants;
  void* import_thunk;
  const void* import_funcs;
  const void* import_contexts;
  uint64_t processor[8];
} h_environment_t;

typedef struct {
  uint32_t workgroup_size_x;
  uint32_t workgroup_size_y;
  uint16_t workgroup_size_z;
  uint16_t constant_count;
  uint32_t workgroup_count_x;
  uint32_t workgroup_count_y;
  uint16_t workgroup_count_z;
  uint8_t max_concurrency;
  uint8_t binding_count;
  const uint32_t* constants;
  void* const* binding_ptrs;
  const size_t* binding_lengths;
} h_dispatch_state_t;
_Static_assert(offsetof(h_dispatch_state_t, constants) == 24, "dispatch state layout");

typedef struct {
  uint32_t workgroup_id_x;
  uint32_t workgroup_id_y;
  uint16_t workgroup_id_z;
  uint16_t reserved;
  uint32_t processor_id;
  void* local_memory;
  uint32_t local_memory_size;
} h_workgroup_state_t;

// wasm32 side: byte offsets (pointers and size_t are 4 bytes).
enum {
  W_LIB_HEADER = 0,
  W_LIB_IMPORT_COUNT = 4,
  W_LIB_EXPORT_COUNT = 12,
  W_LIB_EXPORT_PTRS = 16,
  W_LIB_EXPORT_ATTRS = 20,
  W_LIB_EXPORT_PARAMS = 24,
  W_LIB_EXPORT_OCCUPANCY = 28,
  W_LIB_EXPORT_NAMES = 32,
  W_LIB_EXPORT_TAGS = 36,
  W_LIB_CONSTANT_COUNT = 52,
  W_HDR_VERSION = 0,
  W_HDR_NAME = 4,
  W_ENV_CONSTANTS = 0,  // then import_thunk, import_funcs, import_contexts, processor @16
  W_ENV_SIZE = 80,
  W_DS_CONSTANTS = 24,  // first 24 bytes are laid out as in h_dispatch_state_t
  W_DS_BINDING_PTRS = 28,
  W_DS_BINDING_LENGTHS = 32,
  W_DS_SIZE = 40,
  W_WS_LOCAL_MEMORY = 16,
  W_WS_LOCAL_MEMORY_SIZE = 20,
  W_WS_SIZE = 24,
};

//===----------------------------------------------------------------------===//
// State
//===----------------------------------------------------------------------===//

#define MAX_SLOTS 2048
#define MAX_BINDINGS 256
#define STACK_BYTES (4u << 20)

typedef struct {
  uint64_t id;
  uintptr_t start, end;
} const_range_t;

// A block of linear memory above the environment: a resident constant range or a mirror.
typedef struct {
  uint64_t owner;  // 0 = free; a constant range id; or MIRROR_OWNER | mirror id
  uint32_t wasm_off;
  uint32_t size;
} block_t;
#define MIRROR_OWNER (1ull << 63)
#define MAX_MIRRORS 16

typedef struct {
  uint64_t id;  // 0 = unused slot
  uintptr_t start, end;  // host range
  uint32_t wasm_off;     // wasm address of host byte `start` (same address modulo 64)
  uint8_t* snap;         // host snapshot, end - start bytes
  uint64_t last_use;
  bool valid;            // snapshot == wasm copy
} mirror_t;

typedef struct module_t {
  struct module_t* next;
  uint8_t key[32];
  char name[96];
  pthread_mutex_t mu;  // serializes everything that touches the store
  wasmtime_store_t* store;
  wasmtime_context_t* ctx;
  wt_memory_t memory;
  wt_table_t table;
  wt_global_t stack_pointer;
  uint32_t stack_top;
  uint32_t env_w;
  uint32_t heap_base;
  uint32_t resident_top;
  uint32_t constant_count;
  uint32_t export_count;
  wt_func_t* funcs;
  h_library_t host;
  block_t* blocks;
  size_t block_count, block_cap;
  mirror_t mirrors[MAX_MIRRORS];
  uint64_t next_mirror_id, use_clock;
  bool sp_dirty;
  // Statistics (nanoseconds), read by spiree_wasm_stats and spiree_wasm_profile.
  uint64_t ns_copy_in, ns_wasm, ns_copy_out, dispatches, bytes_in, bytes_out;
  uint64_t* export_ns;     // time inside wasm per export ordinal
  uint64_t* export_calls;  // dispatches per export ordinal
} module_t;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static wasm_engine_t* g_engine;
static module_t* g_modules;
static struct {
  module_t* module;
  uint32_t ordinal;
} g_slots[MAX_SLOTS];
static int g_slot_count;
static const_range_t* g_ranges;
static size_t g_range_count, g_range_cap;
static uint64_t g_next_range_id = 1;
static pthread_rwlock_t g_ranges_lock = PTHREAD_RWLOCK_INITIALIZER;
static char g_last_error[1024];

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void set_error(char* err, size_t cap, const char* fmt, const char* a, const char* b) {
  snprintf(err, cap, fmt, a, b);
}

static void take_error_message(wasmtime_error_t* e, wasm_trap_t* trap, char* out, size_t cap) {
  wt_byte_vec_t msg = {0, NULL};
  if (e) {
    wasmtime_error_message(e, &msg);
    wasmtime_error_delete(e);
  } else if (trap) {
    wasm_trap_message(trap, &msg);
    wasm_trap_delete(trap);
  }
  size_t n = msg.size < cap - 1 ? msg.size : cap - 1;
  if (msg.data) memcpy(out, msg.data, n);
  out[n] = 0;
  // Keep the first line: Wasmtime appends backtraces.
  char* nl = strchr(out, '\n');
  if (nl) *nl = 0;
  if (msg.data) wasm_byte_vec_delete(&msg);
}

static inline uint32_t rd32(const uint8_t* mem, uint32_t off) {
  uint32_t v;
  memcpy(&v, mem + off, 4);
  return v;
}
static inline void wr32(uint8_t* mem, uint32_t off, uint32_t v) { memcpy(mem + off, &v, 4); }

static uint8_t* mem_base(module_t* m) { return wasmtime_memory_data(m->ctx, &m->memory); }

// Grows linear memory so that [0, end) is addressable; returns false when wasm32 runs out.
static bool ensure_memory(module_t* m, uint64_t end) {
  size_t have = wasmtime_memory_data_size(m->ctx, &m->memory);
  if (end <= have) return true;
  if (end > 0xFFFF0000ull) return false;
  uint64_t pages = (end - have + WASM_PAGE - 1) / WASM_PAGE;
  uint64_t prev = 0;
  wasmtime_error_t* e = wasmtime_memory_grow(m->ctx, &m->memory, pages, &prev);
  if (e) {
    wasmtime_error_delete(e);
    return false;
  }
  return true;
}

// Reads a NUL-terminated string from linear memory into a heap copy.
static char* dup_wasm_string(const uint8_t* mem, size_t mem_size, uint32_t off) {
  if (!off || off >= mem_size) return NULL;
  size_t n = strnlen((const char*)mem + off, mem_size - off);
  char* s = malloc(n + 1);
  memcpy(s, mem + off, n);
  s[n] = 0;
  return s;
}

static int dispatch_slot(int slot, const void* env, const void* ds, const void* ws);

// MAX_SLOTS host entry points, each bound to one (module, export ordinal) at registration.
// Slot names are 4-digit numbers with digits 1-4, 0-7, 0-7, 0-7; slot_index maps them to 0..2047.
static inline int slot_index(int v) {
  return (v / 1000 - 1) * 512 + (v / 100 % 10) * 64 + (v / 10 % 10) * 8 + v % 10;
}
#define SLOT1(i)                                                    \
  static int slot_##i(const void* e, const void* d, const void* w) { \
    return dispatch_slot(slot_index(i), e, d, w);                   \
  }
#define SLOT8(i) SLOT1(i##0) SLOT1(i##1) SLOT1(i##2) SLOT1(i##3) SLOT1(i##4) SLOT1(i##5) SLOT1(i##6) SLOT1(i##7)
#define SLOT64(i) SLOT8(i##0) SLOT8(i##1) SLOT8(i##2) SLOT8(i##3) SLOT8(i##4) SLOT8(i##5) SLOT8(i##6) SLOT8(i##7)
#define SLOT512(i) SLOT64(i##0) SLOT64(i##1) SLOT64(i##2) SLOT64(i##3) SLOT64(i##4) SLOT64(i##5) SLOT64(i##6) SLOT64(i##7)
SLOT512(1) SLOT512(2) SLOT512(3) SLOT512(4)
#define REF1(i) slot_##i,
#define REF8(i) REF1(i##0) REF1(i##1) REF1(i##2) REF1(i##3) REF1(i##4) REF1(i##5) REF1(i##6) REF1(i##7)
#define REF64(i) REF8(i##0) REF8(i##1) REF8(i##2) REF8(i##3) REF8(i##4) REF8(i##5) REF8(i##6) REF8(i##7)
#define REF512(i) REF64(i##0) REF64(i##1) REF64(i##2) REF64(i##3) REF64(i##4) REF64(i##5) REF64(i##6) REF64(i##7)
static const h_dispatch_fn_t g_slot_fns[MAX_SLOTS] = {REF512(1) REF512(2) REF512(3) REF512(4)};

static module_t* find_module(const uint8_t key[32]) {
  for (module_t* m = g_modules; m; m = m->next)
    if (memcmp(m->key, key, 32) == 0) return m;
  return NULL;
}

static void destroy_module(module_t* m) {
  if (m->store) wasmtime_store_delete(m->store);
  for (int i = 0; i < MAX_MIRRORS; ++i) free(m->mirrors[i].snap);
  free(m->blocks);
  free(m->export_ns);
  free(m->export_calls);
  free(m->funcs);
  free(m);
}

//===----------------------------------------------------------------------===//
// Registration: compile, instantiate, query, build the host library
//===----------------------------------------------------------------------===//

static bool define_extern(wasmtime_linker_t* linker, module_t* m, const char* name,
                          const wt_extern_t* ext, char* err, size_t cap) {
  wasmtime_error_t* e = wasmtime_linker_define(linker, m->ctx, "env", 3, name, strlen(name), ext);
  if (!e) return true;
  char msg[512];
  take_error_message(e, NULL, msg, sizeof(msg));
  set_error(err, cap, "cannot define env.%s: %s", name, msg);
  return false;
}

static bool new_i32_global(module_t* m, uint8_t mutability, int32_t value, wt_global_t* out) {
  wasm_globaltype_t* gt = wasm_globaltype_new(wasm_valtype_new(WASM_VALKIND_I32), mutability);
  wt_val_t v;
  memset(&v, 0, sizeof(v));
  v.kind = WT_I32;
  v.of.i32 = value;
  wasmtime_error_t* e = wasmtime_global_new(m->ctx, gt, &v, out);
  wasm_globaltype_delete(gt);
  if (e) wasmtime_error_delete(e);
  return e == NULL;
}

static bool call_i32(module_t* m, const wt_func_t* f, const int32_t* args, size_t nargs,
                     int32_t* result, char* err, size_t cap) {
  wt_val_t a[4], r;
  memset(a, 0, sizeof(a));
  memset(&r, 0, sizeof(r));
  for (size_t i = 0; i < nargs; ++i) {
    a[i].kind = WT_I32;
    a[i].of.i32 = args[i];
  }
  wasm_trap_t* trap = NULL;
  wasmtime_error_t* e = wasmtime_func_call(m->ctx, f, a, nargs, &r, result ? 1 : 0, &trap);
  if (e || trap) {
    take_error_message(e, trap, err, cap);
    return false;
  }
  if (result) *result = r.of.i32;
  return true;
}

static bool call_export_if_present(module_t* m, wt_instance_t* inst, const char* name, char* err,
                                   size_t cap) {
  wt_extern_t ext;
  if (!wasmtime_instance_export_get(m->ctx, inst, name, strlen(name), &ext)) return true;
  if (ext.kind != WT_EXTERN_FUNC) return true;
  char msg[512];
  if (call_i32(m, &ext.of.func, NULL, 0, NULL, msg, sizeof(msg))) return true;
  set_error(err, cap, "%s trapped: %s", name, msg);
  return false;
}

// Builds m->host from the wasm library at lib_w. Returns false with err set on anything the
// bridge cannot represent.
static bool build_host_library(module_t* m, uint32_t lib_w, char* err, size_t cap) {
  uint8_t* mem = mem_base(m);
  size_t mem_size = wasmtime_memory_data_size(m->ctx, &m->memory);
  if (lib_w == 0 || lib_w + 64 > mem_size) {
    snprintf(err, cap,
             "iree_hal_executable_library_query returned no library for ABI version %u "
             "(the executable was built for another IREE runtime version)",
             LIBRARY_VERSION);
    return false;
  }
  uint32_t hdr_w = rd32(mem, lib_w + W_LIB_HEADER);
  if (!hdr_w || rd32(mem, hdr_w + W_HDR_VERSION) != LIBRARY_VERSION) {
    snprintf(err, cap, "executable library version %u, the bridge speaks %u",
             hdr_w ? rd32(mem, hdr_w + W_HDR_VERSION) : 0, LIBRARY_VERSION);
    return false;
  }
  uint32_t import_count = rd32(mem, lib_w + W_LIB_IMPORT_COUNT);
  if (import_count) {
    snprintf(err, cap,
             "the executable declares %u IREE executable import(s); the wasm bridge provides none",
             import_count);
    return false;
  }
  uint32_t n = rd32(mem, lib_w + W_LIB_EXPORT_COUNT);
  uint32_t ptrs_w = rd32(mem, lib_w + W_LIB_EXPORT_PTRS);
  uint32_t attrs_w = rd32(mem, lib_w + W_LIB_EXPORT_ATTRS);
  uint32_t params_w = rd32(mem, lib_w + W_LIB_EXPORT_PARAMS);
  uint32_t occupancy_w = rd32(mem, lib_w + W_LIB_EXPORT_OCCUPANCY);
  uint32_t names_w = rd32(mem, lib_w + W_LIB_EXPORT_NAMES);
  uint32_t tags_w = rd32(mem, lib_w + W_LIB_EXPORT_TAGS);
  m->constant_count = rd32(mem, lib_w + W_LIB_CONSTANT_COUNT);
  if (g_slot_count + (int)n > MAX_SLOTS) {
    snprintf(err, cap, "too many wasm dispatch functions in this process (limit %d)", MAX_SLOTS);
    return false;
  }

  m->export_count = n;
  m->funcs = calloc(n ? n : 1, sizeof(wt_func_t));
  m->export_ns = calloc(n ? n : 1, sizeof(uint64_t));
  m->export_calls = calloc(n ? n : 1, sizeof(uint64_t));
  h_dispatch_fn_t* ptrs = calloc(n ? n : 1, sizeof(*ptrs));
  dispatch_attrs_t* attrs = attrs_w ? calloc(n ? n : 1, sizeof(*attrs)) : NULL;
  const char** names = names_w ? calloc(n ? n : 1, sizeof(char*)) : NULL;
  const char** tags = tags_w ? calloc(n ? n : 1, sizeof(char*)) : NULL;
  const dispatch_param_t** params = params_w ? calloc(n ? n : 1, sizeof(void*)) : NULL;
  int32_t* occupancy = occupancy_w ? calloc(n ? n : 1, sizeof(int32_t)) : NULL;
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t fn_index = rd32(mem, ptrs_w + 4 * i);
    wt_val_t v;
    memset(&v, 0, sizeof(v));
    if (!wasmtime_table_get(m->ctx, &m->table, fn_index, &v) || v.kind != WT_FUNCREF ||
        v.of.funcref.store_id == 0) {
      snprintf(err, cap, "export %u points at table slot %u, which holds no function", i, fn_index);
      return false;
    }
    m->funcs[i] = v.of.funcref;
    if (attrs) memcpy(&attrs[i], mem + attrs_w + 64 * i, 64);
    if (names) names[i] = dup_wasm_string(mem, mem_size, rd32(mem, names_w + 4 * i));
    if (tags) tags[i] = dup_wasm_string(mem, mem_size, rd32(mem, tags_w + 4 * i));
    if (occupancy) memcpy(&occupancy[i], mem + occupancy_w + 4 * i, 4);
    if (params) {
      uint32_t p_w = rd32(mem, params_w + 4 * i);
      uint32_t count = attrs ? attrs[i].parameter_count : 0;
      if (p_w && count) {
        dispatch_param_t* p = calloc(count, sizeof(*p));
        memcpy(p, mem + p_w, count * sizeof(*p));
        params[i] = p;
      }
    }
    g_slots[g_slot_count].module = m;
    g_slots[g_slot_count].ordinal = i;
    ptrs[i] = g_slot_fns[g_slot_count++];
  }
  h_header_t* header = calloc(1, sizeof(*header));
  header->version = LIBRARY_VERSION;
  header->name = dup_wasm_string(mem, mem_size, rd32(mem, hdr_w + W_HDR_NAME));
  memset(&m->host, 0, sizeof(m->host));
  m->host.header = header;
  m->host.exports.count = n;
  m->host.exports.ptrs = ptrs;
  m->host.exports.attrs = attrs;
  m->host.exports.params = params;
  m->host.exports.occupancy = occupancy;
  m->host.exports.names = names;
  m->host.exports.tags = tags;
  m->host.constants.count = m->constant_count;
  return true;
}

// Registers (compiles, instantiates and queries) one wasm executable under its sha256 `key`.
// `mem_size`, `mem_align_log2` and `table_size` come from the module's dylink.0 section.
// Returns 0 on success (also when already registered), -1 with `err` set otherwise.
__attribute__((visibility("default"))) int spiree_wasm_register(
    const uint8_t* key, const char* name, const uint8_t* wasm, size_t wasm_len, uint32_t mem_size,
    uint32_t mem_align_log2, uint32_t table_size, char* err, size_t cap) {
  pthread_mutex_lock(&g_mu);
  if (find_module(key)) {
    pthread_mutex_unlock(&g_mu);
    return 0;
  }
  if (!g_engine) g_engine = wasm_engine_new();
  module_t* m = calloc(1, sizeof(*m));
  memcpy(m->key, key, 32);
  snprintf(m->name, sizeof(m->name), "%s", name ? name : "wasm executable");
  pthread_mutex_init(&m->mu, NULL);
  m->store = wasmtime_store_new(g_engine, NULL, NULL);
  m->ctx = wasmtime_store_context(m->store);

  wasmtime_module_t* module = NULL;
  wasmtime_linker_t* linker = NULL;
  char msg[512];
  wasmtime_error_t* e = wasmtime_module_new(g_engine, wasm, wasm_len, &module);
  if (e) {
    take_error_message(e, NULL, msg, sizeof(msg));
    set_error(err, cap, "Wasmtime cannot compile it: %s%s", msg, "");
    goto fail;
  }

  // Linear memory: [0, 1024) unused | static data at __memory_base | shadow stack | environment
  // | resident constants | per-dispatch scratch.
  uint32_t align = 1u << (mem_align_log2 > 12 ? 12 : mem_align_log2);
  if (align < 16) align = 16;
  uint32_t memory_base = (1024 + align - 1) & ~(align - 1);
  uint32_t stack_bottom = (memory_base + mem_size + 15) & ~15u;
  m->stack_top = stack_bottom + STACK_BYTES;
  m->env_w = (m->stack_top + 63) & ~63u;
  m->heap_base = (m->env_w + W_ENV_SIZE + 4 * 256 + 63) & ~63u;
  m->resident_top = m->heap_base;
  uint32_t pages = (m->heap_base + WASM_PAGE - 1) / WASM_PAGE + 1;
  wt_limits_t mem_limits = {pages, 65536};
  wasm_memorytype_t* mt = wasm_memorytype_new(&mem_limits);
  e = wasmtime_memory_new(m->ctx, mt, &m->memory);
  wasm_memorytype_delete(mt);
  if (e) {
    take_error_message(e, NULL, msg, sizeof(msg));
    set_error(err, cap, "cannot create linear memory: %s%s", msg, "");
    goto fail;
  }
  const uint32_t table_base = 1;
  wt_limits_t table_limits = {table_base + table_size, 0xFFFFFFFFu};
  wasm_tabletype_t* tt = wasm_tabletype_new(wasm_valtype_new(WASM_VALKIND_FUNCREF), &table_limits);
  wt_val_t null_ref;
  memset(&null_ref, 0, sizeof(null_ref));
  null_ref.kind = WT_FUNCREF;
  e = wasmtime_table_new(m->ctx, tt, &null_ref, &m->table);
  wasm_tabletype_delete(tt);
  if (e) {
    take_error_message(e, NULL, msg, sizeof(msg));
    set_error(err, cap, "cannot create the function table: %s%s", msg, "");
    goto fail;
  }
  wt_global_t memory_base_g, table_base_g;
  if (!new_i32_global(m, WASM_VAR, (int32_t)m->stack_top, &m->stack_pointer) ||
      !new_i32_global(m, WASM_CONST, (int32_t)memory_base, &memory_base_g) ||
      !new_i32_global(m, WASM_CONST, (int32_t)table_base, &table_base_g)) {
    set_error(err, cap, "cannot create the linker globals%s%s", "", "");
    goto fail;
  }

  linker = wasmtime_linker_new(g_engine);
  wt_extern_t ext;
  memset(&ext, 0, sizeof(ext));
  ext.kind = WT_EXTERN_MEMORY;
  ext.of.memory = m->memory;
  if (!define_extern(linker, m, "memory", &ext, err, cap)) goto fail;
  ext.kind = WT_EXTERN_TABLE;
  ext.of.table = m->table;
  if (!define_extern(linker, m, "__indirect_function_table", &ext, err, cap)) goto fail;
  ext.kind = WT_EXTERN_GLOBAL;
  ext.of.global = m->stack_pointer;
  if (!define_extern(linker, m, "__stack_pointer", &ext, err, cap)) goto fail;
  ext.of.global = memory_base_g;
  if (!define_extern(linker, m, "__memory_base", &ext, err, cap)) goto fail;
  ext.of.global = table_base_g;
  if (!define_extern(linker, m, "__table_base", &ext, err, cap)) goto fail;

  wt_instance_t inst;
  wasm_trap_t* trap = NULL;
  e = wasmtime_linker_instantiate(linker, m->ctx, module, &inst, &trap);
  if (e || trap) {
    take_error_message(e, trap, msg, sizeof(msg));
    set_error(err, cap, "Wasmtime cannot instantiate it: %s%s", msg, "");
    goto fail;
  }
  if (!call_export_if_present(m, &inst, "__wasm_apply_data_relocs", err, cap)) goto fail;
  if (!call_export_if_present(m, &inst, "__wasm_call_ctors", err, cap)) goto fail;

  wt_extern_t query;
  if (!wasmtime_instance_export_get(m->ctx, &inst, "iree_hal_executable_library_query", 33,
                                    &query) ||
      query.kind != WT_EXTERN_FUNC) {
    set_error(err, cap, "it does not export iree_hal_executable_library_query%s%s", "", "");
    goto fail;
  }
  memset(mem_base(m) + m->env_w, 0, W_ENV_SIZE);
  int32_t args[2] = {(int32_t)LIBRARY_VERSION, (int32_t)m->env_w};
  int32_t lib_w = 0;
  if (!call_i32(m, &query.of.func, args, 2, &lib_w, msg, sizeof(msg))) {
    set_error(err, cap, "iree_hal_executable_library_query trapped: %s%s", msg, "");
    goto fail;
  }
  if (!build_host_library(m, (uint32_t)lib_w, err, cap)) goto fail;

  wasmtime_linker_delete(linker);
  wasmtime_module_delete(module);
  m->next = g_modules;
  g_modules = m;
  pthread_mutex_unlock(&g_mu);
  return 0;

fail:
  if (linker) wasmtime_linker_delete(linker);
  if (module) wasmtime_module_delete(module);
  destroy_module(m);
  pthread_mutex_unlock(&g_mu);
  return -1;
}

// Registers the executable `key` from SPIREE_WASM_DIR, where `spiree` exported a twin for IREE's
// own tools (iree-run-module, iree-benchmark-module): <hex key>.wasm holds the wasm bytes and
// <hex key>.meta the dylink.0 memory size, alignment (log2) and table size. Returns 0 on success.
static int register_from_dir(const uint8_t key[32], char* err, size_t cap) {
  const char* dir = getenv("SPIREE_WASM_DIR");
  if (!dir) {
    snprintf(err, cap, "wasm executable not registered with the bridge (load the artifact with spiree)");
    return -1;
  }
  char hex[65], path[4096];
  for (int i = 0; i < 32; ++i) snprintf(hex + 2 * i, 3, "%02x", key[i]);
  unsigned ms = 0, ma = 0, ts = 0;
  snprintf(path, sizeof(path), "%s/%s.meta", dir, hex);
  FILE* f = fopen(path, "r");
  int fields = f ? fscanf(f, "%u %u %u", &ms, &ma, &ts) : 0;
  if (f) fclose(f);
  if (fields != 3) {
    snprintf(err, cap, "no readable %s (export the twin with spiree again)", path);
    return -1;
  }
  snprintf(path, sizeof(path), "%s/%s.wasm", dir, hex);
  f = fopen(path, "rb");
  uint8_t* data = NULL;
  long n = -1;
  if (f && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
    data = malloc((size_t)n);
    if (data && fread(data, 1, (size_t)n, f) != (size_t)n) n = -1;
  }
  if (f) fclose(f);
  if (!data || n <= 0) {
    free(data);
    snprintf(err, cap, "no readable %s (export the twin with spiree again)", path);
    return -1;
  }
  char name[128];
  snprintf(name, sizeof(name), "wasm executable %.16s (%ld bytes)", hex, n);
  int rc = spiree_wasm_register(key, name, data, (size_t)n, ms, ma, ts, err, cap);
  free(data);
  return rc;
}

// Called by each stub's iree_hal_executable_library_query.
__attribute__((visibility("default"))) const void* spiree_wasm_query(const uint8_t* key,
                                                                     uint32_t max_version,
                                                                     const void* environment) {
  (void)environment;
  if (max_version < LIBRARY_VERSION) return NULL;
  pthread_mutex_lock(&g_mu);
  module_t* m = find_module(key);
  pthread_mutex_unlock(&g_mu);
  if (!m) {
    char err[1024];
    if (register_from_dir(key, err, sizeof(err)) != 0) {
      snprintf(g_last_error, sizeof(g_last_error), "%s", err);
      fprintf(stderr, "spiree wasm bridge: %s\n", g_last_error);
      return NULL;
    }
    pthread_mutex_lock(&g_mu);
    m = find_module(key);
    pthread_mutex_unlock(&g_mu);
  }
  return m ? &m->host : NULL;
}

//===----------------------------------------------------------------------===//
// Constant ranges (host memory that never changes while registered)
//===----------------------------------------------------------------------===//

__attribute__((visibility("default"))) uint64_t spiree_wasm_add_constant_range(const void* start,
                                                                               size_t length) {
  pthread_rwlock_wrlock(&g_ranges_lock);
  if (g_range_count == g_range_cap) {
    g_range_cap = g_range_cap ? 2 * g_range_cap : 8;
    g_ranges = realloc(g_ranges, g_range_cap * sizeof(*g_ranges));
  }
  uint64_t id = g_next_range_id++;
  g_ranges[g_range_count++] = (const_range_t){id, (uintptr_t)start, (uintptr_t)start + length};
  pthread_rwlock_unlock(&g_ranges_lock);
  return id;
}

// Forgets a range and frees its resident copies in every module.
__attribute__((visibility("default"))) void spiree_wasm_remove_constant_range(uint64_t id) {
  pthread_rwlock_wrlock(&g_ranges_lock);
  for (size_t i = 0; i < g_range_count; ++i) {
    if (g_ranges[i].id == id) {
      g_ranges[i] = g_ranges[--g_range_count];
      break;
    }
  }
  pthread_rwlock_unlock(&g_ranges_lock);
  pthread_mutex_lock(&g_mu);
  for (module_t* m = g_modules; m; m = m->next) {
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->block_count; ++i)
      if (m->blocks[i].owner == id) m->blocks[i].owner = 0;
    pthread_mutex_unlock(&m->mu);
  }
  pthread_mutex_unlock(&g_mu);
}

static bool find_constant_range(uintptr_t p, size_t len, const_range_t* out) {
  bool found = false;
  pthread_rwlock_rdlock(&g_ranges_lock);
  for (size_t i = 0; i < g_range_count; ++i) {
    if (p >= g_ranges[i].start && p + len <= g_ranges[i].end) {
      *out = g_ranges[i];
      found = true;
      break;
    }
  }
  pthread_rwlock_unlock(&g_ranges_lock);
  return found;
}

// Allocates `need` bytes of linear memory (64-byte aligned) for `owner`, reusing a free block
// when one fits; returns the wasm address, or 0 when wasm32 memory ran out.
static uint32_t alloc_block(module_t* m, uint64_t need, uint64_t owner) {
  if (need > 0xF0000000u) return 0;
  for (size_t i = 0; i < m->block_count; ++i)
    if (m->blocks[i].owner == 0 && m->blocks[i].size >= need) {
      m->blocks[i].owner = owner;
      return m->blocks[i].wasm_off;
    }
  if (!ensure_memory(m, (uint64_t)m->resident_top + need)) return 0;
  if (m->block_count == m->block_cap) {
    m->block_cap = m->block_cap ? 2 * m->block_cap : 8;
    m->blocks = realloc(m->blocks, m->block_cap * sizeof(*m->blocks));
  }
  block_t* b = &m->blocks[m->block_count++];
  b->owner = owner;
  b->wasm_off = m->resident_top;
  b->size = (uint32_t)need;
  m->resident_top += ((uint32_t)need + 63) & ~63u;
  return b->wasm_off;
}

static void free_blocks_of(module_t* m, uint64_t owner) {
  for (size_t i = 0; i < m->block_count; ++i)
    if (m->blocks[i].owner == owner) m->blocks[i].owner = 0;
}

// Wasm address of the resident copy of `r` (copied in on first use); 0 if memory ran out.
// The copy keeps the host address modulo 64 so alignment assumptions hold alike.
static uint32_t resident_copy(module_t* m, const const_range_t* r) {
  for (size_t i = 0; i < m->block_count; ++i)
    if (m->blocks[i].owner == r->id) return m->blocks[i].wasm_off + (uint32_t)(r->start & 63);
  size_t size = r->end - r->start;
  uint32_t base = alloc_block(m, (uint64_t)size + 64, r->id);
  if (!base) return 0;
  uint32_t off = base + (uint32_t)(r->start & 63);
  memcpy(mem_base(m) + off, (const void*)r->start, size);
  m->bytes_in += size;
  return off;
}

// The mirror of host range [start, end): found, or allocated (evicting the least recently used
// one) and marked invalid. NULL when linear memory or host memory ran out.
static mirror_t* find_mirror(module_t* m, uintptr_t start, uintptr_t end) {
  mirror_t* lru = &m->mirrors[0];
  for (int i = 0; i < MAX_MIRRORS; ++i) {
    mirror_t* x = &m->mirrors[i];
    if (x->id && x->start == start && x->end == end) {
      x->last_use = ++m->use_clock;
      return x;
    }
    if (!x->id || (lru->id && x->last_use < lru->last_use)) lru = x;
  }
  if (lru->id) free_blocks_of(m, MIRROR_OWNER | lru->id);
  free(lru->snap);
  memset(lru, 0, sizeof(*lru));
  size_t len = end - start;
  uint64_t id = ++m->next_mirror_id;
  uint32_t base = alloc_block(m, (uint64_t)len + 64, MIRROR_OWNER | id);
  uint8_t* snap = base ? malloc(len ? len : 1) : NULL;
  if (!snap) {
    if (base) free_blocks_of(m, MIRROR_OWNER | id);
    return NULL;
  }
  *lru = (mirror_t){id, start, end, base + (uint32_t)(start & 63), snap, ++m->use_clock, false};
  return lru;
}

// Both walks below skip equal 4 KiB blocks with memcmp (libc's is vectorized for the CPU) and
// then work in 64-byte chunks inside a block that differs.
#define BLOCK 4096u
#define CHUNK 64u

// Brings the mirror up to date with host memory: chunks whose host bytes differ from the
// snapshot are read once into the snapshot, then copied from there into wasm memory. Returns
// the number of bytes copied.
static size_t sync_mirror(module_t* m, mirror_t* x) {
  const uint8_t* host = (const uint8_t*)x->start;
  uint8_t* wasm = mem_base(m) + x->wasm_off;
  size_t len = x->end - x->start;
  if (!x->valid) {
    memcpy(x->snap, host, len);
    __asm__ volatile("" ::: "memory");  // wasm gets the snapshot's bytes, not a second host read
    memcpy(wasm, x->snap, len);
    x->valid = true;
    return len;
  }
  size_t copied = 0;
  for (size_t b = 0; b < len; b += BLOCK) {
    size_t bn = len - b < BLOCK ? len - b : BLOCK;
    if (memcmp(host + b, x->snap + b, bn) == 0) continue;
    for (size_t i = b; i < b + bn; i += CHUNK) {
      size_t n = b + bn - i < CHUNK ? b + bn - i : CHUNK;
      if (memcmp(host + i, x->snap + i, n) == 0) continue;
      memcpy(x->snap + i, host + i, n);
      __asm__ volatile("" ::: "memory");
      memcpy(wasm + i, x->snap + i, n);
      copied += n;
    }
  }
  return copied;
}

// Writes back to host memory the 4-byte words wasm changed (and records them in the snapshot).
// Word-granular: IREE places every buffer range at an offset aligned to at least 16 bytes, so a
// 4-byte word never holds bytes of two ranges, and commands running beside this dispatch keep
// what they write.
static size_t write_back_mirror(module_t* m, mirror_t* x) {
  uint8_t* host = (uint8_t*)x->start;
  const uint8_t* wasm = mem_base(m) + x->wasm_off;
  size_t len = x->end - x->start, written = 0;
  size_t head = (4 - (x->start & 3)) & 3;  // bytes before the first 4-byte aligned host word
  for (size_t k = 0; k < head && k < len; ++k)
    if (wasm[k] != x->snap[k]) host[k] = x->snap[k] = wasm[k], ++written;
  for (size_t b = head; b < len; b += BLOCK) {
    size_t bn = len - b < BLOCK ? len - b : BLOCK;
    if (memcmp(wasm + b, x->snap + b, bn) == 0) continue;
    size_t i = b;
    for (; i + 4 <= b + bn; i += 4) {
      uint32_t w, v;
      memcpy(&w, wasm + i, 4);
      memcpy(&v, x->snap + i, 4);
      if (w == v) continue;
      memcpy(host + i, &w, 4);
      memcpy(x->snap + i, &w, 4);
      written += 4;
    }
    for (; i < b + bn; ++i)
      if (wasm[i] != x->snap[i]) host[i] = x->snap[i] = wasm[i], ++written;
  }
  return written;
}

//===----------------------------------------------------------------------===//
// Dispatch
//===----------------------------------------------------------------------===//

typedef struct {
  uintptr_t start, end;
  mirror_t* mirror;
} group_t;

static int cmp_binding(const void* a, const void* b, void* ctx) {
  const h_dispatch_state_t* d = ctx;
  uintptr_t pa = (uintptr_t)d->binding_ptrs[*(const int*)a];
  uintptr_t pb = (uintptr_t)d->binding_ptrs[*(const int*)b];
  return pa < pb ? -1 : pa > pb;
}

static int fail_dispatch(module_t* m, uint32_t ordinal, const char* what) {
  const char* name = m->host.exports.names && m->host.exports.names[ordinal]
                         ? m->host.exports.names[ordinal]
                         : "?";
  snprintf(g_last_error, sizeof(g_last_error), "%s: dispatch %s: %s", m->name, name, what);
  fprintf(stderr, "spiree wasm bridge: %s\n", g_last_error);
  return 1;
}

static int run_dispatch(module_t* m, uint32_t ordinal, const h_environment_t* env,
                        const h_dispatch_state_t* d) {
  uint64_t t0 = now_ns();
  int n = d->binding_count;
  uint32_t wptr[MAX_BINDINGS];
  int transient[MAX_BINDINGS];
  int ntransient = 0;

  // 1. Constant bindings: resident copies (may grow memory, so before any raw pointer use).
  for (int b = 0; b < n; ++b) {
    uintptr_t p = (uintptr_t)d->binding_ptrs[b];
    size_t len = d->binding_lengths[b];
    const_range_t r;
    wptr[b] = 0;
    if (!p) continue;
    if (find_constant_range(p, len, &r)) {
      uint32_t base = resident_copy(m, &r);
      if (!base) return fail_dispatch(m, ordinal, "wasm32 linear memory is full (4 GiB)");
      wptr[b] = base + (uint32_t)(p - r.start);
    } else {
      transient[ntransient++] = b;
    }
  }

  // 2. Transient bindings: merge overlapping host ranges into groups, one mirror each.
  qsort_r(transient, ntransient, sizeof(int), cmp_binding, (void*)d);
  group_t groups[MAX_BINDINGS];
  int ngroups = 0;
  int group_of[MAX_BINDINGS];
  for (int t = 0; t < ntransient; ++t) {
    int b = transient[t];
    uintptr_t p = (uintptr_t)d->binding_ptrs[b];
    uintptr_t e = p + d->binding_lengths[b];
    if (ngroups && p < groups[ngroups - 1].end) {
      if (e > groups[ngroups - 1].end) groups[ngroups - 1].end = e;
    } else {
      groups[ngroups++] = (group_t){p, e, NULL};
    }
    group_of[b] = ngroups - 1;
  }
  if (ngroups > MAX_MIRRORS)
    return fail_dispatch(m, ordinal, "more than 16 distinct host buffers bound to one dispatch");
  for (int g = 0; g < ngroups; ++g) {
    groups[g].mirror = find_mirror(m, groups[g].start, groups[g].end);
    if (!groups[g].mirror) return fail_dispatch(m, ordinal, "wasm32 linear memory is full (4 GiB)");
  }
  // (A mirror found or allocated above is the most recently used, so a later group of this
  // dispatch never evicts it.)

  const dispatch_attrs_t* attrs = m->host.exports.attrs ? &m->host.exports.attrs[ordinal] : NULL;
  uint32_t local_bytes = attrs ? attrs->local_memory_pages * WORKGROUP_LOCAL_PAGE : 0;
  uint64_t scratch = (m->resident_top + 63) & ~63ull;
  uint64_t ds_w = scratch;
  uint64_t ws_w = ds_w + W_DS_SIZE;
  uint64_t constants_w = ws_w + W_WS_SIZE;
  uint64_t ptrs_w = constants_w + 4ull * d->constant_count;
  uint64_t lengths_w = ptrs_w + 4ull * n;
  uint64_t local_w = (lengths_w + 4ull * n + 63) & ~63ull;
  uint64_t end = local_w + local_bytes + 64;
  if (end > 0xFFFF0000ull || !ensure_memory(m, end))
    return fail_dispatch(m, ordinal, "wasm32 linear memory is full (4 GiB)");

  for (int g = 0; g < ngroups; ++g) m->bytes_in += sync_mirror(m, groups[g].mirror);
  uint8_t* mem = mem_base(m);
  for (int t = 0; t < ntransient; ++t) {
    int b = transient[t];
    group_t* g = &groups[group_of[b]];
    wptr[b] = g->mirror->wasm_off + (uint32_t)((uintptr_t)d->binding_ptrs[b] - g->start);
  }
  for (int b = 0; b < n; ++b) {
    if (!wptr[b]) wptr[b] = (uint32_t)local_w;  // NULL/empty binding: any valid address
    wr32(mem, (uint32_t)ptrs_w + 4 * b, wptr[b]);
    size_t len = d->binding_lengths[b];
    wr32(mem, (uint32_t)lengths_w + 4 * b, len > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)len);
  }
  if (d->constant_count) memcpy(mem + constants_w, d->constants, 4ull * d->constant_count);
  memcpy(mem + ds_w, d, 24);  // the 24 leading bytes share one layout
  wr32(mem, (uint32_t)ds_w + W_DS_CONSTANTS, (uint32_t)constants_w);
  wr32(mem, (uint32_t)ds_w + W_DS_BINDING_PTRS, (uint32_t)ptrs_w);
  wr32(mem, (uint32_t)ds_w + W_DS_BINDING_LENGTHS, (uint32_t)lengths_w);
  memset(mem + ws_w, 0, W_WS_SIZE);
  wr32(mem, (uint32_t)ws_w + W_WS_LOCAL_MEMORY, local_bytes ? (uint32_t)local_w : 0);
  wr32(mem, (uint32_t)ws_w + W_WS_LOCAL_MEMORY_SIZE, local_bytes);
  if (m->constant_count && env && env->constants) {
    uint32_t executable_constants_w = m->env_w + W_ENV_SIZE;
    memcpy(mem + executable_constants_w, env->constants,
           4ull * (m->constant_count > 256 ? 256 : m->constant_count));
    wr32(mem, m->env_w + W_ENV_CONSTANTS, executable_constants_w);
  }
  uint64_t t1 = now_ns();

  // 3. The whole workgroup grid, inside wasm.
  if (m->sp_dirty) {
    wt_val_t v;
    memset(&v, 0, sizeof(v));
    v.kind = WT_I32;
    v.of.i32 = (int32_t)m->stack_top;
    wasmtime_error_t* e = wasmtime_global_set(m->ctx, &m->stack_pointer, &v);
    if (e) wasmtime_error_delete(e);
    m->sp_dirty = false;
  }
  int32_t args[3] = {(int32_t)m->env_w, (int32_t)ds_w, (int32_t)ws_w};
  char msg[512];
  for (uint32_t z = 0; z < d->workgroup_count_z; ++z) {
    for (uint32_t y = 0; y < d->workgroup_count_y; ++y) {
      for (uint32_t x = 0; x < d->workgroup_count_x; ++x) {
        uint8_t* wm = mem_base(m);
        wr32(wm, (uint32_t)ws_w + 0, x);
        wr32(wm, (uint32_t)ws_w + 4, y);
        uint16_t z16 = (uint16_t)z;
        memcpy(wm + ws_w + 8, &z16, 2);
        int32_t rc = 0;
        if (!call_i32(m, &m->funcs[ordinal], args, 3, &rc, msg, sizeof(msg))) {
          m->sp_dirty = true;
          for (int g = 0; g < ngroups; ++g) groups[g].mirror->valid = false;
          char what[640];
          snprintf(what, sizeof(what), "wasm trapped: %s", msg);
          return fail_dispatch(m, ordinal, what);
        }
        if (rc != 0) {
          for (int g = 0; g < ngroups; ++g) groups[g].mirror->valid = false;
          char what[64];
          snprintf(what, sizeof(what), "returned %d", rc);
          return fail_dispatch(m, ordinal, what);
        }
      }
    }
  }
  uint64_t t2 = now_ns();

  // 4. Write back what the dispatch changed.
  for (int g = 0; g < ngroups; ++g) m->bytes_out += write_back_mirror(m, groups[g].mirror);
  uint64_t t3 = now_ns();
  m->ns_copy_in += t1 - t0;
  m->ns_wasm += t2 - t1;
  m->ns_copy_out += t3 - t2;
  m->export_ns[ordinal] += t2 - t1;
  m->export_calls[ordinal] += 1;
  m->dispatches += 1;
  return 0;
}

// IREE calls the dispatch function once per workgroup, possibly from several worker threads
// (each with its own copy of the dispatch state). Workgroup (0,0,0) runs the whole grid; the
// other calls return at once. IREE completes a dispatch only when all of its workgroup calls have
// returned (checked under local-sync and local-task with a delayed write-back), so dependent work
// sees the results.
static int dispatch_slot(int slot, const void* env, const void* ds, const void* ws) {
  const h_workgroup_state_t* w = ws;
  if (w->workgroup_id_x | w->workgroup_id_y | w->workgroup_id_z) return 0;
  module_t* m = g_slots[slot].module;
  pthread_mutex_lock(&m->mu);
  int rc = run_dispatch(m, g_slots[slot].ordinal, env, ds);
  pthread_mutex_unlock(&m->mu);
  return rc;
}

//===----------------------------------------------------------------------===//
// Diagnostics
//===----------------------------------------------------------------------===//

// Sums over all modules: ns copying in, ns in wasm, ns writing back, dispatches, bytes in, bytes
// written back.
__attribute__((visibility("default"))) void spiree_wasm_stats(uint64_t out[6], int reset) {
  memset(out, 0, 6 * sizeof(uint64_t));
  pthread_mutex_lock(&g_mu);
  for (module_t* m = g_modules; m; m = m->next) {
    pthread_mutex_lock(&m->mu);
    out[0] += m->ns_copy_in;
    out[1] += m->ns_wasm;
    out[2] += m->ns_copy_out;
    out[3] += m->dispatches;
    out[4] += m->bytes_in;
    out[5] += m->bytes_out;
    if (reset) m->ns_copy_in = m->ns_wasm = m->ns_copy_out = m->dispatches = m->bytes_in = m->bytes_out = 0;
    pthread_mutex_unlock(&m->mu);
  }
  pthread_mutex_unlock(&g_mu);
}

// Time inside wasm per dispatch function since the last reset, over all modules, as text lines
// "name<TAB>dispatches<TAB>nanoseconds\n" (functions never dispatched are left out). Returns
// the length the full text needs; writes at most cap - 1 bytes and a terminating NUL.
__attribute__((visibility("default"))) size_t spiree_wasm_profile(char* buf, size_t cap, int reset) {
  size_t need = 0;
  if (cap) buf[0] = 0;
  pthread_mutex_lock(&g_mu);
  for (module_t* m = g_modules; m; m = m->next) {
    pthread_mutex_lock(&m->mu);
    for (uint32_t i = 0; i < m->export_count; ++i) {
      if (!m->export_calls[i]) continue;
      const char* name = m->host.exports.names && m->host.exports.names[i] ? m->host.exports.names[i] : "?";
      char line[512];
      int len = snprintf(line, sizeof(line), "%s\t%llu\t%llu\n", name,
                         (unsigned long long)m->export_calls[i], (unsigned long long)m->export_ns[i]);
      if (len > 0 && need + (size_t)len < cap) memcpy(buf + need, line, (size_t)len + 1);
      need += len > 0 ? (size_t)len : 0;
      if (reset) m->export_calls[i] = m->export_ns[i] = 0;
    }
    pthread_mutex_unlock(&m->mu);
  }
  pthread_mutex_unlock(&g_mu);
  return need + 1;
}

__attribute__((visibility("default"))) const char* spiree_wasm_last_error(void) {
  return g_last_error;
}
