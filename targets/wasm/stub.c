// spiree wasm stub: the host shared library that stands in for one wasm executable in the host
// twin of a wasm32 artifact. Its only export forwards IREE's library query to the bridge
// (bridge.c) with the sha256 of the wasm bytes it stands for. spiree builds this file once and
// writes each executable's key over the 32 placeholder bytes that follow KEY_MARKER.

#define KEY_MARKER "SPIREE-WASM-KEY:"

extern const void* spiree_wasm_query(const unsigned char* key, unsigned max_version,
                                     const void* environment);

__attribute__((used)) static const unsigned char k_key[16 + 32] =
    KEY_MARKER "\xa5\xa5\xa5\xa5\xa5\xa5\xa5\xa5\xa5\xa5\xa5\xa5\xa5\xa5\xa5\xa5"
               "\xa5\xa5\xa5\xa5\xa5\xa5\xa5\xa5\xa5\xa5\xa5\xa5\xa5\xa5\xa5\xa5";

__attribute__((visibility("default"))) const void* iree_hal_executable_library_query(
    unsigned max_version, const void* environment) {
  return spiree_wasm_query(k_key + 16, max_version, environment);
}
