// jni_harness.c: calls libspiree_jni.so's JNI functions without a JVM, through a JNIEnv whose
// function table implements just what spiree_jni.c uses (direct buffers, arrays, strings,
// exceptions). scripts/verify_android_runtime.py cross-builds it with the aarch64 library and
// runs both under qemu-aarch64 on an arm64 vmfb (there is no arm64 JVM here), so the aarch64
// build is run, not only linked:
//
//   jni_harness LIB.so MODEL.vmfb ENTRY THREADS INPUT.bin IN_SHAPE OUTPUT.bin OUT_SHAPE
//
// Shapes are comma-separated ("1,3,32,32"). Runs the model twice (local-sync or local-task as
// THREADS says; the second time from a misaligned input, which the bridge copies), writes the
// output (raw float32), then checks two error paths: a wrong result shape and a closed model.
// Prints "jni_harness: ok ..." or "jni_harness: FAILED: ..." (exit 1).

#include <dlfcn.h>
#include <jni.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// --- the objects of this fake VM -------------------------------------------------------------

typedef enum { OBJ_BUFFER, OBJ_STRING, OBJ_OBJECT_ARRAY, OBJ_LONG_ARRAY, OBJ_CLASS } obj_kind_t;

typedef struct {
  obj_kind_t kind;
  void* data;      // buffer memory, string chars, or the array's elements
  jlong length;    // buffer capacity (elements), array length
  char name[128];  // class name
} obj_t;

static char pending[1024];  // "class: message" of a pending exception, "" if none

static jobject new_obj(obj_kind_t kind, void* data, jlong length) {
  obj_t* o = calloc(1, sizeof(*o));
  o->kind = kind;
  o->data = data;
  o->length = length;
  return (jobject)o;
}

static obj_t* obj(jobject o) { return (obj_t*)o; }

static void fail(const char* what) {
  printf("jni_harness: FAILED: %s\n", what);
  exit(1);
}

static obj_t* expect(jobject o, obj_kind_t kind) {
  if (!o || obj(o)->kind != kind) fail("the bridge passed an object of the wrong kind to the JNIEnv");
  return obj(o);
}

// --- the JNI functions spiree_jni.c uses ---------------------------------------------------------

static jboolean ExceptionCheck(JNIEnv* env) { (void)env; return pending[0] != 0; }
static jclass FindClass(JNIEnv* env, const char* name) {
  (void)env;
  obj_t* c = (obj_t*)new_obj(OBJ_CLASS, NULL, 0);
  snprintf(c->name, sizeof(c->name), "%s", name);
  return (jclass)c;
}
static jint ThrowNew(JNIEnv* env, jclass cls, const char* message) {
  (void)env;
  if (!pending[0]) snprintf(pending, sizeof(pending), "%s: %s", expect(cls, OBJ_CLASS)->name, message);
  return 0;
}
static jstring NewStringUTF(JNIEnv* env, const char* chars) {
  (void)env;
  return (jstring)new_obj(OBJ_STRING, strdup(chars), (jlong)strlen(chars));
}
static const char* GetStringUTFChars(JNIEnv* env, jstring s, jboolean* is_copy) {
  (void)env;
  if (is_copy) *is_copy = JNI_FALSE;
  return (const char*)expect(s, OBJ_STRING)->data;
}
static void ReleaseStringUTFChars(JNIEnv* env, jstring s, const char* chars) { (void)env; (void)s; (void)chars; }
static void* GetDirectBufferAddress(JNIEnv* env, jobject b) {
  (void)env;
  return b && obj(b)->kind == OBJ_BUFFER ? obj(b)->data : NULL;
}
static jlong GetDirectBufferCapacity(JNIEnv* env, jobject b) {
  (void)env;
  return b && obj(b)->kind == OBJ_BUFFER ? obj(b)->length : -1;
}
static jobject NewGlobalRef(JNIEnv* env, jobject o) { (void)env; return o; }
static void DeleteGlobalRef(JNIEnv* env, jobject o) { (void)env; (void)o; }
static void DeleteLocalRef(JNIEnv* env, jobject o) { (void)env; (void)o; }
static jsize GetArrayLength(JNIEnv* env, jarray a) {
  (void)env;
  obj_t* o = obj(a);
  if (!o || (o->kind != OBJ_OBJECT_ARRAY && o->kind != OBJ_LONG_ARRAY)) fail("GetArrayLength of a non-array");
  return (jsize)o->length;
}
static jobject GetObjectArrayElement(JNIEnv* env, jobjectArray a, jsize i) {
  (void)env;
  obj_t* o = expect(a, OBJ_OBJECT_ARRAY);
  if (i < 0 || i >= o->length) fail("GetObjectArrayElement out of range");
  return ((jobject*)o->data)[i];
}
static void GetLongArrayRegion(JNIEnv* env, jlongArray a, jsize start, jsize n, jlong* out) {
  (void)env;
  obj_t* o = expect(a, OBJ_LONG_ARRAY);
  if (start < 0 || n < 0 || start + n > o->length) fail("GetLongArrayRegion out of range");
  memcpy(out, (jlong*)o->data + start, sizeof(jlong) * (size_t)n);
}

// --- helpers ---------------------------------------------------------------------------------------

static jobject array_of(jobject* items, jlong n) {
  jobject* copy = malloc(sizeof(jobject) * (size_t)n);
  memcpy(copy, items, sizeof(jobject) * (size_t)n);
  return new_obj(OBJ_OBJECT_ARRAY, copy, n);
}

static jobject parse_shape(const char* text, jlong* out_count) {
  jlong* dims = calloc(16, sizeof(jlong));
  jlong rank = 0, count = 1;
  for (const char* p = text; *p && rank < 16;) {
    dims[rank] = strtoll(p, (char**)&p, 10);
    count *= dims[rank++];
    if (*p == ',') ++p;
  }
  *out_count = count;
  return new_obj(OBJ_LONG_ARRAY, dims, rank);
}

static void* read_file(const char* path, size_t* out_size, size_t align, size_t offset) {
  FILE* f = fopen(path, "rb");
  if (!f) fail(path);
  fseek(f, 0, SEEK_END);
  size_t size = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t* mem = NULL;
  if (posix_memalign((void**)&mem, align, size + offset + align) != 0) fail("out of memory");
  if (fread(mem + offset, 1, size, f) != size) fail(path);
  fclose(f);
  *out_size = size;
  return mem + offset;
}

int main(int argc, char** argv) {
  if (argc != 9) {
    fprintf(stderr, "usage: %s LIB.so MODEL.vmfb ENTRY THREADS INPUT.bin IN_SHAPE OUTPUT.bin OUT_SHAPE\n", argv[0]);
    return 2;
  }
  struct JNINativeInterface_ table;
  memset(&table, 0, sizeof(table));  // any other function: a null call, a crash, a failed check
  table.ExceptionCheck = ExceptionCheck;
  table.FindClass = FindClass;
  table.ThrowNew = ThrowNew;
  table.NewStringUTF = NewStringUTF;
  table.GetStringUTFChars = GetStringUTFChars;
  table.ReleaseStringUTFChars = ReleaseStringUTFChars;
  table.GetDirectBufferAddress = GetDirectBufferAddress;
  table.GetDirectBufferCapacity = GetDirectBufferCapacity;
  table.NewGlobalRef = NewGlobalRef;
  table.DeleteGlobalRef = DeleteGlobalRef;
  table.DeleteLocalRef = DeleteLocalRef;
  table.GetArrayLength = GetArrayLength;
  table.GetObjectArrayElement = GetObjectArrayElement;
  table.GetLongArrayRegion = GetLongArrayRegion;
  const struct JNINativeInterface_* functions = &table;
  JNIEnv* env = (JNIEnv*)&functions;

  void* lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) fail(dlerror());
  jstring (*version)(JNIEnv*, jclass) = (jstring(*)(JNIEnv*, jclass))dlsym(lib, "Java_dev_spiree_NativeBackend_nativeRuntimeVersion");
  jstring (*format)(JNIEnv*, jclass) = (jstring(*)(JNIEnv*, jclass))dlsym(lib, "Java_dev_spiree_NativeBackend_nativeExecutableFormat");
  jlong (*create)(JNIEnv*, jclass, jobject, jstring, jint) =
      (jlong(*)(JNIEnv*, jclass, jobject, jstring, jint))dlsym(lib, "Java_dev_spiree_NativeBackend_nativeCreate");
  jint (*call)(JNIEnv*, jclass, jlong, jobjectArray, jobjectArray, jobjectArray, jobjectArray) =
      (jint(*)(JNIEnv*, jclass, jlong, jobjectArray, jobjectArray, jobjectArray, jobjectArray))dlsym(
          lib, "Java_dev_spiree_NativeBackend_nativeCall");
  void (*destroy)(JNIEnv*, jclass, jlong) = (void (*)(JNIEnv*, jclass, jlong))dlsym(lib, "Java_dev_spiree_NativeBackend_nativeDestroy");
  if (!version || !format || !create || !call || !destroy) fail("a JNI function is not exported");

  size_t vmfb_size = 0, input_size = 0, misaligned_size = 0;
  void* vmfb = read_file(argv[2], &vmfb_size, 64, 0);
  float* input = read_file(argv[5], &input_size, 64, 0);
  float* misaligned = read_file(argv[5], &misaligned_size, 64, 4);
  jlong in_count = 0, out_count = 0, bad_count = 0;
  jobject in_shape = parse_shape(argv[6], &in_count);
  jobject out_shape = parse_shape(argv[8], &out_count);
  if ((size_t)in_count * sizeof(float) != input_size) fail("INPUT.bin does not hold IN_SHAPE's elements");
  float* output = calloc((size_t)out_count + 1, sizeof(float));

  const char* fmt = (const char*)obj(format(env, NULL))->data;
  jlong handle = create(env, NULL, new_obj(OBJ_BUFFER, vmfb, (jlong)vmfb_size), NewStringUTF(env, argv[3]),
                        atoi(argv[4]));
  if (pending[0] || !handle) fail(pending[0] ? pending : "nativeCreate returned no handle");

  jobject in_shapes = array_of(&in_shape, 1), out_shapes = array_of(&out_shape, 1);
  jobject outputs = array_of((jobject[]){new_obj(OBJ_BUFFER, output, out_count)}, 1);
  jint copies = call(env, NULL, handle, array_of((jobject[]){new_obj(OBJ_BUFFER, input, in_count)}, 1),
                     in_shapes, outputs, out_shapes);
  if (pending[0]) fail(pending);
  if (copies != 0) fail("a 64-byte-aligned input was copied");
  float* again = calloc((size_t)out_count, sizeof(float));
  copies = call(env, NULL, handle, array_of((jobject[]){new_obj(OBJ_BUFFER, misaligned, in_count)}, 1),
                in_shapes, array_of((jobject[]){new_obj(OBJ_BUFFER, again, out_count)}, 1), out_shapes);
  if (pending[0]) fail(pending);
  if (copies != 1) fail("a misaligned input was not reported as copied");
  if (memcmp(output, again, sizeof(float) * (size_t)out_count) != 0) fail("the misaligned input gave another result");
  FILE* f = fopen(argv[7], "wb");
  if (!f || fwrite(output, sizeof(float), (size_t)out_count, f) != (size_t)out_count) fail(argv[7]);
  fclose(f);

  // A result shape other than the real one: the bridge throws, naming both.
  char bad_text[256];
  snprintf(bad_text, sizeof(bad_text), "%s,1", argv[8]);
  jobject bad_shape = parse_shape(bad_text, &bad_count);
  call(env, NULL, handle, array_of((jobject[]){new_obj(OBJ_BUFFER, input, in_count)}, 1), in_shapes, outputs,
       array_of(&bad_shape, 1));
  char shape_error[1024];
  snprintf(shape_error, sizeof(shape_error), "%s", pending);
  if (!strstr(shape_error, "dev/spiree/SpireeException: result 0 of model.vmfb is float32[") ||
      !strstr(shape_error, ", 1]: ship the model.json")) {
    fail(shape_error[0] ? shape_error : "no exception for a wrong result shape");
  }
  pending[0] = 0;
  destroy(env, NULL, handle);
  call(env, NULL, 0, in_shapes, in_shapes, outputs, out_shapes);
  if (!strstr(pending, "java/lang/IllegalStateException: the model is closed")) fail("no exception for a closed model");
  printf("jni_harness: ok: IREE %s, %s, threads %s, %lld outputs, misaligned input copied once; %s\n",
         (const char*)obj(version(env, NULL))->data, fmt, argv[4], (long long)out_count, shape_error);
  return 0;
}
