/* Hostile modules through the C ABI, for the sanitizer run (mk/sanitize.mk): every hostile
 * fixture (trap, runaway loop, memory hog, stack overflow, output flood, garbage, bad exit) is
 * called a few times for authentication and admission; each call must come back as a failed
 * call (not authenticated, not allowed) and every handle, buffer and error is freed, so that
 * AddressSanitizer/LeakSanitizer see wasmtime's traps (signals on guard pages), timeouts
 * (epoch interruption) and memory limits exercised.
 * Usage: hostile_test <fixture dir>. Prints "N passed, M failed"; exits non-zero on failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubewasm.h"

static int passed, failed;

#define CHECK(cond, what, name)                                                  \
  do {                                                                           \
    if (cond) {                                                                  \
      passed++;                                                                  \
    } else {                                                                     \
      failed++;                                                                  \
      fprintf(stderr, "FAIL %s:%d: %s (%s)\n", __FILE__, __LINE__, what, name); \
    }                                                                            \
  } while (0)

/* Returns the call's output as a NUL-terminated string (freeing the library's buffer), or NULL
 * after printing and freeing the error. */
static char *result(kubewasm_error *err, uint8_t *out, size_t out_len) {
  if (err) {
    const uint8_t *p = NULL;
    size_t n = 0;
    kubewasm_error_message(err, &p, &n);
    fprintf(stderr, "error %u: %.*s\n", kubewasm_error_code(err), (int)n, (const char *)p);
    kubewasm_error_free(err);
    return NULL;
  }
  char *s = malloc(out_len + 1);
  memcpy(s, out, out_len);
  s[out_len] = 0;
  kubewasm_bytes_free(out, out_len);
  return s;
}

static kubewasm_handle *init(uint32_t kind, const char *module, const char *dir) {
  char config[512];
  snprintf(config, sizeof config,
           "modules:\n- {name: hostile, module: %s.wasm, timeout: 100ms, memoryLimit: 32Mi}\n", module);
  kubewasm_handle *h = NULL;
  kubewasm_error *err =
      kubewasm_init(kind, (const uint8_t *)config, strlen(config), (const uint8_t *)dir, strlen(dir), &h);
  if (err) {
    free(result(err, NULL, 0));
    return NULL;
  }
  return h;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s <fixture dir>\n", argv[0]);
    return 2;
  }
  const char *dir = argv[1];
  const char *modules[] = {"hostile-trap",    "hostile-loop",   "hostile-memory", "hostile-stack",
                           "hostile-output",  "hostile-garbage", "hostile-exit"};
  const char *tr = "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenReview\","
                   "\"spec\":{\"token\":\"magic-token\"}}";
  const char *req = "{\"uid\":\"u1\",\"operation\":\"CREATE\",\"kind\":{\"group\":\"\",\"version\":\"v1\","
                    "\"kind\":\"ConfigMap\"},\"object\":{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
                    "\"metadata\":{\"name\":\"x\",\"namespace\":\"default\"},\"data\":{\"a\":\"1\"}}}";
  const uint32_t ids[] = {0};
  for (size_t i = 0; i < sizeof modules / sizeof modules[0]; i++) {
    const char *name = modules[i];
    kubewasm_handle *authn = init(KUBEWASM_KIND_AUTHENTICATION, name, dir);
    kubewasm_handle *adm = init(KUBEWASM_KIND_ADMISSION, name, dir);
    CHECK(authn != NULL && adm != NULL, "init", name);
    for (int round = 0; round < 3 && authn && adm; round++) {
      uint8_t *out = NULL;
      size_t out_len = 0;
      /* The call first, then result(): C leaves the order of argument evaluation open. */
      kubewasm_error *err = kubewasm_authenticate(authn, (const uint8_t *)tr, strlen(tr), 0, &out, &out_len);
      char *s = result(err, out, out_len);
      CHECK(s && strstr(s, "\"authenticated\":true") == NULL && strstr(s, "\"error\""),
            "a hostile authenticator fails and does not authenticate", name);
      free(s);
      err = kubewasm_admit(adm, KUBEWASM_PHASE_VALIDATING, ids, 1, (const uint8_t *)req, strlen(req), 0, &out,
                           &out_len);
      s = result(err, out, out_len);
      CHECK(s && strstr(s, "\"allowed\":false") && strstr(s, "\"error\""),
            "a hostile admission module is a failed call (failurePolicy Fail)", name);
      free(s);
    }
    kubewasm_free(authn);
    kubewasm_free(adm);
  }
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
