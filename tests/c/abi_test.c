/* The C ABI from C: every entry point, with the magic fixture modules.
 * Usage: abi_test <fixture dir>. Prints "N passed, M failed" and exits non-zero on failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubewasm.h"

static int passed, failed;

#define CHECK(cond, what)                                                        \
  do {                                                                           \
    if (cond) {                                                                  \
      passed++;                                                                  \
    } else {                                                                     \
      failed++;                                                                  \
      fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, what);             \
    }                                                                            \
  } while (0)

/* Copies an error's message into a NUL-terminated string and frees the error. */
static char *take_error(kubewasm_error *err) {
  const uint8_t *p = NULL;
  size_t n = 0;
  kubewasm_error_message(err, &p, &n);
  char *s = malloc(n + 1);
  memcpy(s, p, n);
  s[n] = 0;
  kubewasm_error_free(err);
  return s;
}

/* Copies an output buffer into a NUL-terminated string and frees the buffer. */
static char *take_bytes(uint8_t *p, size_t n) {
  char *s = malloc(n + 1);
  memcpy(s, p, n);
  s[n] = 0;
  kubewasm_bytes_free(p, n);
  return s;
}

static kubewasm_handle *init(uint32_t kind, const char *config, const char *dir) {
  kubewasm_handle *h = NULL;
  kubewasm_error *err = kubewasm_init(kind, (const uint8_t *)config, strlen(config), (const uint8_t *)dir,
                                      strlen(dir), &h);
  if (err) {
    char *m = take_error(err);
    fprintf(stderr, "init failed: %s\n", m);
    free(m);
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
  uint8_t *out = NULL;
  size_t out_len = 0;
  char *s;

  CHECK(kubewasm_abi_version() == KUBEWASM_ABI_VERSION, "abi version");

  /* authentication */
  kubewasm_handle *authn = init(KUBEWASM_KIND_AUTHENTICATION, "modules:\n- module: magic-authenticator.wasm\n", dir);
  CHECK(authn != NULL, "init authentication");
  const char *tr = "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenReview\",\"spec\":{\"token\":\"magic-token\"}}";
  kubewasm_error *err = kubewasm_authenticate(authn, (const uint8_t *)tr, strlen(tr), 0, &out, &out_len);
  CHECK(err == NULL, "authenticate");
  if (!err) {
    s = take_bytes(out, out_len);
    CHECK(strstr(s, "\"authenticated\":true") && strstr(s, "\"username\":\"magic-user\"") &&
              strstr(s, "\"magic-group\""),
          "magic-token is magic-user");
    CHECK(strstr(s, "magic-token") == NULL, "the token is not echoed");
    free(s);
  }

  /* authorization */
  kubewasm_handle *authz = init(KUBEWASM_KIND_AUTHORIZATION, "modules:\n- module: magic-authorizer.wasm\n", dir);
  CHECK(authz != NULL, "init authorization");
  const char *sar = "{\"spec\":{\"user\":\"magic-user\",\"groups\":[\"magic-group\"],\"resourceAttributes\":"
                    "{\"verb\":\"list\",\"version\":\"v1\",\"resource\":\"configmaps\"}}}";
  err = kubewasm_authorize(authz, (const uint8_t *)sar, strlen(sar), 0, &out, &out_len);
  CHECK(err == NULL, "authorize");
  if (!err) {
    s = take_bytes(out, out_len);
    CHECK(strstr(s, "\"allowed\":true") != NULL, "magic-group may use configmaps");
    free(s);
  }

  /* admission */
  kubewasm_handle *adm = init(KUBEWASM_KIND_ADMISSION,
                              "modules:\n- {name: m, module: magic-mutator.wasm, mutating: true}\n"
                              "- {name: v, module: magic-validator.wasm}\n",
                              dir);
  CHECK(adm != NULL, "init admission");
  err = kubewasm_modules(adm, &out, &out_len);
  CHECK(err == NULL, "modules");
  if (!err) {
    s = take_bytes(out, out_len);
    CHECK(strstr(s, "\"name\":\"m\"") && strstr(s, "\"name\":\"v\""), "modules lists both");
    free(s);
  }
  const char *req = "{\"uid\":\"u1\",\"operation\":\"CREATE\",\"object\":{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
                    "\"metadata\":{\"name\":\"c\"},\"data\":{\"not-allowed-value\":\"x\"}}}";
  uint32_t mutators[] = {0}, validators[] = {1};
  err = kubewasm_admit(adm, KUBEWASM_PHASE_MUTATING, mutators, 1, (const uint8_t *)req, strlen(req), 0, &out,
                       &out_len);
  CHECK(err == NULL, "admit mutating");
  if (!err) {
    s = take_bytes(out, out_len);
    CHECK(strstr(s, "\"path\":\"/data/magic-value\"") && strstr(s, "\"foobar\""), "mutator patch");
    free(s);
  }
  err = kubewasm_admit(adm, KUBEWASM_PHASE_VALIDATING, validators, 1, (const uint8_t *)req, strlen(req), 0, &out,
                       &out_len);
  CHECK(err == NULL, "admit validating");
  if (!err) {
    s = take_bytes(out, out_len);
    CHECK(strstr(s, "\"allowed\":false") && strstr(s, "not allowed in configmap"), "validator rejects");
    free(s);
  }

  /* errors */
  err = kubewasm_admit(adm, 7, validators, 1, (const uint8_t *)req, strlen(req), 0, &out, &out_len);
  CHECK(kubewasm_error_code(err) == KUBEWASM_ERROR_INVALID_ARGUMENT, "bad phase");
  free(take_error(err));
  err = kubewasm_authenticate(NULL, (const uint8_t *)tr, strlen(tr), 0, &out, &out_len);
  CHECK(kubewasm_error_code(err) == KUBEWASM_ERROR_INVALID_ARGUMENT, "NULL handle");
  free(take_error(err));
  kubewasm_handle *bad = NULL;
  const char *cfg = "modules:\n- module: magic-validator.wasm\n  bogus: 1\n";
  err = kubewasm_init(KUBEWASM_KIND_ADMISSION, (const uint8_t *)cfg, strlen(cfg), NULL, 0, &bad);
  CHECK(kubewasm_error_code(err) == KUBEWASM_ERROR_CONFIG && bad == NULL, "config error");
  s = take_error(err);
  CHECK(strstr(s, "\"bogus\"") != NULL, "config error names the field");
  free(s);

  kubewasm_free(authn);
  kubewasm_free(authz);
  kubewasm_free(adm);
  kubewasm_free(NULL);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
