// spiree_jni.c: the JNI bridge between dev.spiree.NativeBackend and the IREE runtime C API
// (iree/runtime/api.h).
//
//   nativeCreate   one shared iree_runtime_instance_t per process; a session per model on the
//                  local-sync (threads == 1) or local-task device; the vmfb appended from the Java
//                  direct buffer in place (copied only if it is not 64-byte aligned); the entry
//                  function resolved by name once.
//   nativeCall     inputs imported from the Java direct buffers as HAL buffers without a copy
//                  when they are 64-byte aligned (IREE's heap allocator imports nothing else),
//                  else copied into an IREE buffer; returns how many inputs were copied. Call,
//                  outputs checked against the expected shapes and copied into the Java output
//                  buffers.
//   nativeDestroy  releases the session (and with it the device and module).
//   nativeExecutableFormat  the executable format this library's loader runs: its own arch
//                  (embedded-elf-arm_64 in an Android app, embedded-elf-x86_64 on a desktop JVM).
//   nativeAddress  a direct buffer's address, so Java can hand out 64-byte-aligned buffers.
//
// Every failing iree_status_t becomes a dev.spiree.SpireeException whose message is "what we
// were doing: IREE's status text". The Java side has already validated the signature; the checks
// here guard against a model.json that does not describe the vmfb.

#ifndef _GNU_SOURCE
#define _GNU_SOURCE  // SCHED_BATCH in glibc's <sched.h> (the desktop-JVM build); bionic has it anyway
#endif
#include <jni.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iree/hal/utils/caching_allocator.h"
#include "iree/runtime/api.h"

// IREE's flag registry sets the local-task thread count (see spiree_create_device). Its header
// has lived in base/tooling and base/internal across releases.
#if __has_include("iree/base/tooling/flags.h")
#include "iree/base/tooling/flags.h"
#else
#include "iree/base/internal/flags.h"
#endif

#ifndef SPIREE_IREE_RUNTIME_VERSION
#define SPIREE_IREE_RUNTIME_VERSION "unknown"
#endif

// IREE aligns every segment of a vmfb archive to 64 bytes relative to its start, so the start
// itself must be that aligned for the rodata (weights) to be usable in place.
#define SPIREE_VMFB_ALIGNMENT 64
// IREE_HAL_HEAP_BUFFER_ALIGNMENT: the local devices' allocator imports host memory only at this
// alignment (and the compiled executables assume it); other inputs are copied.
#define SPIREE_INPUT_ALIGNMENT 64
#define SPIREE_MAX_RANK 16

// The embedded-ELF executables the loader in this library can run are those of its own arch.
#if defined(__aarch64__)
#define SPIREE_EXECUTABLE_FORMAT "embedded-elf-arm_64"
#elif defined(__x86_64__)
#define SPIREE_EXECUTABLE_FORMAT "embedded-elf-x86_64"
#else
#error "spiree's bridge is built for arm64 (Android, Linux) or x86-64 (Linux desktop JVM)"
#endif

typedef struct spiree_model_t {
  iree_runtime_session_t* session;
  iree_vm_function_t function;
  void* vmfb_copy;   // aligned copy of the vmfb when the Java buffer was misaligned, else NULL
  jobject vmfb_ref;  // global reference keeping the Java buffer alive while it is used in place
  int local_task;    // the device is local-task: calls wait for its worker threads
} spiree_model_t;

//===----------------------------------------------------------------------===//
// Errors
//===----------------------------------------------------------------------===//

static void spiree_throw(JNIEnv* env, const char* class_name, const char* message) {
  if ((*env)->ExceptionCheck(env)) return;  // keep the first exception
  jclass cls = (*env)->FindClass(env, class_name);
  if (cls) (*env)->ThrowNew(env, cls, message);
}

// Throws SpireeException("<what>: <IREE status text>") and frees |status|. Returns 1 if it threw.
static int spiree_throw_if_error(JNIEnv* env, const char* what, iree_status_t status) {
  if (iree_status_is_ok(status)) return 0;
  iree_allocator_t allocator = iree_allocator_system();
  char* text = NULL;
  iree_host_size_t text_length = 0;
  char fallback[64];
  if (!iree_status_to_string(status, &allocator, &text, &text_length)) {
    snprintf(fallback, sizeof(fallback), "%s",
             iree_status_code_string(iree_status_code(status)));
    text = NULL;
  }
  const char* detail = text ? text : fallback;
  size_t detail_length = text ? (size_t)text_length : strlen(fallback);
  size_t size = strlen(what) + detail_length + 3;
  char* message = (char*)malloc(size);
  if (message) {
    snprintf(message, size, "%s: %.*s", what, (int)detail_length, detail);
    spiree_throw(env, "dev/spiree/SpireeException", message);
    free(message);
  } else {
    spiree_throw(env, "java/lang/OutOfMemoryError", what);
  }
  if (text) iree_allocator_free(allocator, text);
  iree_status_ignore(status);
  return 1;
}

//===----------------------------------------------------------------------===//
// Instance and device
//===----------------------------------------------------------------------===//

static pthread_mutex_t spiree_mutex = PTHREAD_MUTEX_INITIALIZER;
static iree_runtime_instance_t* spiree_instance = NULL;  // shared by all models, never released

static iree_status_t spiree_get_instance(iree_runtime_instance_t** out_instance) {
  iree_status_t status = iree_ok_status();
  pthread_mutex_lock(&spiree_mutex);
  if (!spiree_instance) {
    iree_runtime_instance_options_t options;
    iree_runtime_instance_options_initialize(&options);
    iree_runtime_instance_options_use_all_available_drivers(&options);
    status = iree_runtime_instance_create(&options, iree_allocator_system(), &spiree_instance);
  }
  *out_instance = spiree_instance;
  pthread_mutex_unlock(&spiree_mutex);
  return status;
}

// IREE's caching allocator in front of the device's own, as `--device_allocator=caching` in
// IREE's tools and spiree's Python runner (pipeline/device.py): a call allocates its transient
// and output buffers afresh and the local devices' heap allocator zero-fills every one
// (calloc), so without the cache each inference clears megabytes it is about to overwrite.
// Freed buffers are kept for the next call until the device (one per model) is released. Done
// right after the device is created, before it allocates anything (IREE's rule for replacing
// a device's allocator).
static iree_status_t spiree_use_caching_allocator(iree_hal_device_t* device) {
  iree_hal_allocator_t* caching = NULL;
  IREE_RETURN_IF_ERROR(iree_hal_caching_allocator_create_unbounded(
      iree_hal_device_allocator(device), iree_hal_device_host_allocator(device), &caching));
  iree_hal_device_replace_allocator(device, caching);
  iree_hal_allocator_release(caching);
  return iree_ok_status();
}

// threads == 1: the local-sync device (work runs on the calling thread).
// Otherwise the local-task device, whose driver builds its task executor from IREE's
// task-topology flags when the device is created: --task_topology_group_count=N (0: IREE's
// default, one worker per core of the performance cluster). The flag is process-global, so it
// is set and the device created under one lock.
static iree_status_t spiree_open_device(iree_runtime_instance_t* instance, int threads,
                                        iree_hal_device_t** out_device) {
  if (threads == 1) {
    return iree_runtime_instance_try_create_default_device(
        instance, iree_make_cstring_view("local-sync"), out_device);
  }
  static char program[] = "spiree";
  static char group_count_flag[64];
  pthread_mutex_lock(&spiree_mutex);
  snprintf(group_count_flag, sizeof(group_count_flag), "--task_topology_group_count=%d",
           threads > 1 ? threads : 0);
  char* argv_storage[3] = {program, group_count_flag, NULL};
  char** argv = argv_storage;
  int argc = 2;
  iree_status_t status = iree_flags_parse(IREE_FLAGS_PARSE_MODE_DEFAULT, &argc, &argv);
  if (iree_status_is_ok(status)) {
    status = iree_runtime_instance_try_create_default_device(
        instance, iree_make_cstring_view("local-task"), out_device);
  }
  pthread_mutex_unlock(&spiree_mutex);
  return status;
}

// A model's device: spiree_open_device's, with the caching allocator in front of its own.
static iree_status_t spiree_create_device(iree_runtime_instance_t* instance, int threads,
                                          iree_hal_device_t** out_device) {
  iree_hal_device_t* device = NULL;
  IREE_RETURN_IF_ERROR(spiree_open_device(instance, threads, &device));
  iree_status_t status = spiree_use_caching_allocator(device);
  if (!iree_status_is_ok(status)) {
    iree_hal_device_release(device);
    return status;
  }
  *out_device = device;
  return iree_ok_status();
}

// The entry function of the user module (the last one appended to the session's context), by
// its fully qualified name "<module>.<entry>".
static iree_status_t spiree_lookup_entry(iree_runtime_session_t* session, const char* entry,
                                         iree_vm_function_t* out_function) {
  iree_vm_context_t* context = iree_runtime_session_context(session);
  iree_host_size_t count = iree_vm_context_module_count(context);
  if (count == 0) {
    return iree_make_status(IREE_STATUS_FAILED_PRECONDITION, "the session has no modules");
  }
  iree_string_view_t module_name =
      iree_vm_module_name(iree_vm_context_module_at(context, count - 1));
  char full_name[256];
  int n = snprintf(full_name, sizeof(full_name), "%.*s.%s", (int)module_name.size,
                   module_name.data, entry);
  if (n < 0 || (size_t)n >= sizeof(full_name)) {
    return iree_make_status(IREE_STATUS_INVALID_ARGUMENT, "entry function name too long");
  }
  return iree_runtime_session_lookup_function(session, iree_make_cstring_view(full_name),
                                              out_function);
}

static void spiree_model_free(JNIEnv* env, spiree_model_t* model) {
  if (!model) return;
  iree_runtime_session_release(model->session);
  free(model->vmfb_copy);
  if (model->vmfb_ref) (*env)->DeleteGlobalRef(env, model->vmfb_ref);
  free(model);
}

//===----------------------------------------------------------------------===//
// JNI: dev.spiree.NativeBackend
//===----------------------------------------------------------------------===//

JNIEXPORT jstring JNICALL Java_dev_spiree_NativeBackend_nativeRuntimeVersion(JNIEnv* env,
                                                                             jclass cls) {
  (void)cls;
  return (*env)->NewStringUTF(env, SPIREE_IREE_RUNTIME_VERSION);
}

JNIEXPORT jstring JNICALL Java_dev_spiree_NativeBackend_nativeExecutableFormat(JNIEnv* env,
                                                                               jclass cls) {
  (void)cls;
  return (*env)->NewStringUTF(env, SPIREE_EXECUTABLE_FORMAT);
}

JNIEXPORT jlong JNICALL Java_dev_spiree_NativeBackend_nativeAddress(JNIEnv* env, jclass cls,
                                                                    jobject buffer) {
  (void)cls;
  void* data = buffer ? (*env)->GetDirectBufferAddress(env, buffer) : NULL;
  if (!data) {
    spiree_throw(env, "java/lang/IllegalArgumentException", "not a direct buffer");
    return 0;
  }
  return (jlong)(intptr_t)data;
}

JNIEXPORT jlong JNICALL Java_dev_spiree_NativeBackend_nativeCreate(JNIEnv* env, jclass cls,
                                                                   jobject vmfb, jstring entry,
                                                                   jint threads) {
  (void)cls;
  void* data = vmfb ? (*env)->GetDirectBufferAddress(env, vmfb) : NULL;
  jlong size = vmfb ? (*env)->GetDirectBufferCapacity(env, vmfb) : -1;
  if (!data || size <= 0) {
    spiree_throw(env, "java/lang/IllegalArgumentException",
                 "the vmfb must be a non-empty direct ByteBuffer");
    return 0;
  }
  if (!entry) {
    spiree_throw(env, "java/lang/IllegalArgumentException", "the entry function name is null");
    return 0;
  }

  iree_runtime_instance_t* instance = NULL;
  if (spiree_throw_if_error(env, "cannot create the IREE runtime instance",
                            spiree_get_instance(&instance))) {
    return 0;
  }

  spiree_model_t* model = (spiree_model_t*)calloc(1, sizeof(*model));
  if (!model) {
    spiree_throw(env, "java/lang/OutOfMemoryError", "spiree model");
    return 0;
  }
  const uint8_t* module_data = (const uint8_t*)data;
  if ((uintptr_t)data % SPIREE_VMFB_ALIGNMENT != 0) {
    if (posix_memalign(&model->vmfb_copy, SPIREE_VMFB_ALIGNMENT, (size_t)size) != 0) {
      spiree_model_free(env, model);
      spiree_throw(env, "java/lang/OutOfMemoryError", "aligned copy of the vmfb");
      return 0;
    }
    memcpy(model->vmfb_copy, data, (size_t)size);
    module_data = (const uint8_t*)model->vmfb_copy;
  } else {
    model->vmfb_ref = (*env)->NewGlobalRef(env, vmfb);
  }

  model->local_task = threads != 1;
  iree_hal_device_t* device = NULL;
  iree_status_t status = spiree_create_device(instance, (int)threads, &device);
  if (spiree_throw_if_error(env,
                            threads == 1 ? "cannot create the IREE local-sync device"
                                         : "cannot create the IREE local-task device",
                            status)) {
    spiree_model_free(env, model);
    return 0;
  }

  iree_runtime_session_options_t session_options;
  iree_runtime_session_options_initialize(&session_options);
  status = iree_runtime_session_create_with_device(
      instance, &session_options, device, iree_runtime_instance_host_allocator(instance),
      &model->session);
  iree_hal_device_release(device);  // the session retains it
  if (spiree_throw_if_error(env, "cannot create the IREE session", status)) {
    spiree_model_free(env, model);
    return 0;
  }

  // The module references module_data in place; iree_allocator_null(): we free it ourselves.
  status = iree_runtime_session_append_bytecode_module_from_memory(
      model->session, iree_make_const_byte_span(module_data, (iree_host_size_t)size),
      iree_allocator_null());
  if (spiree_throw_if_error(env,
                            "IREE cannot load model.vmfb (compiled for another target or by "
                            "another IREE version?)",
                            status)) {
    spiree_model_free(env, model);
    return 0;
  }

  const char* entry_chars = (*env)->GetStringUTFChars(env, entry, NULL);
  if (!entry_chars) {
    spiree_model_free(env, model);
    return 0;  // OutOfMemoryError pending
  }
  status = spiree_lookup_entry(model->session, entry_chars, &model->function);
  (*env)->ReleaseStringUTFChars(env, entry, entry_chars);
  if (spiree_throw_if_error(env, "the entry function of model.json is not in model.vmfb",
                            status)) {
    spiree_model_free(env, model);
    return 0;
  }
  return (jlong)(intptr_t)model;
}

JNIEXPORT void JNICALL Java_dev_spiree_NativeBackend_nativeDestroy(JNIEnv* env, jclass cls,
                                                                   jlong handle) {
  (void)cls;
  spiree_model_free(env, (spiree_model_t*)(intptr_t)handle);
}

// Reads shapes[index] into |dims|; returns the rank or -1 (exception pending).
static int spiree_read_shape(JNIEnv* env, jobjectArray shapes, jsize index,
                             iree_hal_dim_t* dims, iree_host_size_t* out_element_count) {
  jlongArray shape = (jlongArray)(*env)->GetObjectArrayElement(env, shapes, index);
  if (!shape) {
    spiree_throw(env, "java/lang/IllegalArgumentException", "null shape");
    return -1;
  }
  jsize rank = (*env)->GetArrayLength(env, shape);
  if (rank > SPIREE_MAX_RANK) {
    (*env)->DeleteLocalRef(env, shape);
    spiree_throw(env, "java/lang/IllegalArgumentException", "tensor rank above 16");
    return -1;
  }
  jlong values[SPIREE_MAX_RANK];
  (*env)->GetLongArrayRegion(env, shape, 0, rank, values);
  (*env)->DeleteLocalRef(env, shape);
  iree_host_size_t count = 1;
  for (jsize i = 0; i < rank; ++i) {
    dims[i] = (iree_hal_dim_t)values[i];
    count *= (iree_host_size_t)values[i];
  }
  *out_element_count = count;
  return (int)rank;
}

// A buffer view over a Java direct FloatBuffer: imported in place when it is 64-byte aligned
// and the device allocator accepts the import (the local CPU devices do), else copied into a
// device buffer (*out_copied = 1).
static iree_status_t spiree_wrap_input(iree_hal_device_t* device, iree_hal_allocator_t* allocator,
                                       iree_allocator_t host_allocator, float* data,
                                       iree_host_size_t rank, const iree_hal_dim_t* dims,
                                       iree_host_size_t byte_length,
                                       iree_hal_buffer_view_t** out_view, int* out_copied) {
  *out_copied = 0;
  iree_hal_buffer_params_t params = {
      .type = IREE_HAL_MEMORY_TYPE_HOST_LOCAL | IREE_HAL_MEMORY_TYPE_DEVICE_VISIBLE,
      .access = IREE_HAL_MEMORY_ACCESS_ALL,
      .usage = IREE_HAL_BUFFER_USAGE_DEFAULT,
  };
  iree_hal_external_buffer_t external = {
      .type = IREE_HAL_EXTERNAL_BUFFER_TYPE_HOST_ALLOCATION,
      .flags = IREE_HAL_EXTERNAL_BUFFER_FLAG_NONE,
      .size = (iree_device_size_t)byte_length,
  };
  external.handle.host_allocation.ptr = data;
  iree_hal_buffer_t* buffer = NULL;
  iree_status_t status =
      (uintptr_t)data % SPIREE_INPUT_ALIGNMENT == 0
          ? iree_hal_allocator_import_buffer(allocator, params, &external,
                                             iree_hal_buffer_release_callback_null(), &buffer)
          : iree_status_from_code(IREE_STATUS_UNAVAILABLE);
  if (iree_status_is_ok(status)) {
    status = iree_hal_buffer_view_create(buffer, rank, dims, IREE_HAL_ELEMENT_TYPE_FLOAT_32,
                                         IREE_HAL_ENCODING_TYPE_DENSE_ROW_MAJOR, host_allocator,
                                         out_view);
    iree_hal_buffer_release(buffer);
    return status;
  }
  iree_status_ignore(status);  // fall back to a copy
  *out_copied = 1;
  iree_hal_buffer_params_t copy_params = {
      .type = IREE_HAL_MEMORY_TYPE_DEVICE_LOCAL,
      .access = IREE_HAL_MEMORY_ACCESS_ALL,
      .usage = IREE_HAL_BUFFER_USAGE_DEFAULT,
  };
  return iree_hal_buffer_view_allocate_buffer_copy(
      device, allocator, rank, dims, IREE_HAL_ELEMENT_TYPE_FLOAT_32,
      IREE_HAL_ENCODING_TYPE_DENSE_ROW_MAJOR, copy_params,
      iree_make_const_byte_span(data, byte_length), out_view);
}

// "float32[1, 10]" (or IREE's name of another element type), as Java's Arrays.toString writes
// shapes, so messages read the same on both sides.
static void spiree_format_tensor(iree_hal_element_type_t type, iree_host_size_t rank,
                                 const iree_hal_dim_t* dims, char* out, size_t capacity) {
  size_t n = 0;
  if (type == IREE_HAL_ELEMENT_TYPE_FLOAT_32) {
    n = (size_t)snprintf(out, capacity, "float32[");
  } else {
    char name[32] = {0};
    iree_host_size_t length = 0;
    if (!iree_status_is_ok(iree_hal_format_element_type(type, sizeof(name) - 1, name, &length))) {
      snprintf(name, sizeof(name), "type 0x%08x", (unsigned)type);
    }
    n = (size_t)snprintf(out, capacity, "%s[", name);
  }
  for (iree_host_size_t d = 0; d < rank && n < capacity; ++d) {
    n += (size_t)snprintf(out + n, capacity - n, d ? ", %lld" : "%lld", (long long)dims[d]);
  }
  if (n < capacity) snprintf(out + n, capacity - n, "]");
}

// Invokes the call. On local-task the calling thread only submits the work and sleeps until the
// workers signal the end; woken, it would preempt the worker that woke it and spin in IREE's
// wait until that worker clears it, so it waits in SCHED_BATCH (same weight, no wakeup
// preemption; unprivileged threads may switch to it and back), as `spiree.load(...,
// threads=N)` does (pipeline/device.py `waiting_on_workers`).
static iree_status_t spiree_invoke(const spiree_model_t* model, iree_runtime_call_t* call) {
  struct sched_param none = {0};
  const int switched = model->local_task && sched_getscheduler(0) == SCHED_OTHER &&
                       sched_setscheduler(0, SCHED_BATCH, &none) == 0;
  iree_status_t status = iree_runtime_call_invoke(call, 0);
  if (switched) sched_setscheduler(0, SCHED_OTHER, &none);
  return status;
}

JNIEXPORT jint JNICALL Java_dev_spiree_NativeBackend_nativeCall(
    JNIEnv* env, jclass cls, jlong handle, jobjectArray inputs, jobjectArray input_shapes,
    jobjectArray outputs, jobjectArray output_shapes) {
  (void)cls;
  spiree_model_t* model = (spiree_model_t*)(intptr_t)handle;
  if (!model) {
    spiree_throw(env, "java/lang/IllegalStateException", "the model is closed");
    return 0;
  }
  iree_runtime_session_t* session = model->session;
  iree_hal_device_t* device = iree_runtime_session_device(session);
  iree_hal_allocator_t* allocator = iree_runtime_session_device_allocator(session);
  iree_allocator_t host_allocator = iree_runtime_session_host_allocator(session);

  iree_runtime_call_t call;
  if (spiree_throw_if_error(env, "cannot prepare the call",
                            iree_runtime_call_initialize(session, model->function, &call))) {
    return 0;
  }

  int copied_inputs = 0;
  iree_status_t status = iree_ok_status();
  jsize input_count = (*env)->GetArrayLength(env, inputs);
  for (jsize i = 0; i < input_count && iree_status_is_ok(status); ++i) {
    iree_hal_dim_t dims[SPIREE_MAX_RANK];
    iree_host_size_t element_count = 0;
    int rank = spiree_read_shape(env, input_shapes, i, dims, &element_count);
    if (rank < 0) goto done;
    jobject buffer = (*env)->GetObjectArrayElement(env, inputs, i);
    float* data = buffer ? (float*)(*env)->GetDirectBufferAddress(env, buffer) : NULL;
    jlong capacity = buffer ? (*env)->GetDirectBufferCapacity(env, buffer) : -1;
    if (buffer) (*env)->DeleteLocalRef(env, buffer);
    if (!data || capacity < (jlong)element_count) {
      spiree_throw(env, "java/lang/IllegalArgumentException",
                   "an input is not a direct FloatBuffer holding its shape's elements");
      goto done;
    }
    iree_hal_buffer_view_t* view = NULL;
    int copied = 0;
    status = spiree_wrap_input(device, allocator, host_allocator, data, (iree_host_size_t)rank,
                               dims, element_count * sizeof(float), &view, &copied);
    copied_inputs += copied;
    if (iree_status_is_ok(status)) {
      status = iree_runtime_call_inputs_push_back_buffer_view(&call, view);
    }
    iree_hal_buffer_view_release(view);
  }
  if (spiree_throw_if_error(env, "cannot pass the inputs to IREE", status)) goto done;

  if (spiree_throw_if_error(env, "the IREE call failed", spiree_invoke(model, &call))) {
    goto done;
  }

  jsize output_count = (*env)->GetArrayLength(env, outputs);
  iree_host_size_t result_count = iree_vm_list_size(iree_runtime_call_outputs(&call));
  if (result_count != (iree_host_size_t)output_count) {
    char message[160];
    snprintf(message, sizeof(message),
             "model.vmfb returned %d result(s) but model.json lists %d output(s)",
             (int)result_count, (int)output_count);
    spiree_throw(env, "dev/spiree/SpireeException", message);
    goto done;
  }
  for (jsize i = 0; i < output_count; ++i) {
    iree_hal_dim_t dims[SPIREE_MAX_RANK];
    iree_host_size_t element_count = 0;
    int rank = spiree_read_shape(env, output_shapes, i, dims, &element_count);
    if (rank < 0) goto done;
    iree_hal_buffer_view_t* view = NULL;
    if (spiree_throw_if_error(env, "cannot read a result",
                              iree_runtime_call_outputs_pop_front_buffer_view(&call, &view))) {
      goto done;
    }
    iree_hal_element_type_t result_type = iree_hal_buffer_view_element_type(view);
    iree_host_size_t result_rank = iree_hal_buffer_view_shape_rank(view);
    int same = result_type == IREE_HAL_ELEMENT_TYPE_FLOAT_32 &&
               result_rank == (iree_host_size_t)rank;
    const iree_hal_dim_t* result_dims = iree_hal_buffer_view_shape_dims(view);
    for (int d = 0; same && d < rank; ++d) same = result_dims[d] == dims[d];
    if (!same) {
      char have[200], want[200], message[560];
      spiree_format_tensor(result_type, result_rank, result_dims, have, sizeof(have));
      spiree_format_tensor(IREE_HAL_ELEMENT_TYPE_FLOAT_32, (iree_host_size_t)rank, dims, want,
                           sizeof(want));
      snprintf(message, sizeof(message),
               "result %d of model.vmfb is %s but model.json describes %s: ship the model.json "
               "written with this model.vmfb",
               (int)i, have, want);
      iree_hal_buffer_view_release(view);
      spiree_throw(env, "dev/spiree/SpireeException", message);
      goto done;
    }
    jobject buffer = (*env)->GetObjectArrayElement(env, outputs, i);
    float* data = buffer ? (float*)(*env)->GetDirectBufferAddress(env, buffer) : NULL;
    jlong capacity = buffer ? (*env)->GetDirectBufferCapacity(env, buffer) : -1;
    if (buffer) (*env)->DeleteLocalRef(env, buffer);
    if (!data || capacity < (jlong)element_count) {
      iree_hal_buffer_view_release(view);
      spiree_throw(env, "java/lang/IllegalArgumentException",
                   "an output is not a direct FloatBuffer with room for its shape's elements");
      goto done;
    }
    status = iree_hal_device_transfer_d2h(
        device, iree_hal_buffer_view_buffer(view), 0, data,
        (iree_device_size_t)(element_count * sizeof(float)),
        IREE_HAL_TRANSFER_BUFFER_FLAG_DEFAULT, iree_infinite_timeout());
    iree_hal_buffer_view_release(view);
    if (spiree_throw_if_error(env, "cannot copy a result out of IREE", status)) goto done;
  }

done:
  iree_runtime_call_deinitialize(&call);
  return copied_inputs;
}
