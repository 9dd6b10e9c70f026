/* The native wasm boundary: one zome call (enter, copy in, host-function dispatch, copy out)
 * and the instance reset, in C over wasmtime's C API. Python runs only host-function bodies.
 * A thread's idle instances live in a Pool: the usual call (an idle instance that served an
 * earlier call) is one Python -> C call, Pool.run: take it, invoke, reset, keep it again.
 *
 * Built by zomehost.ribosome.native.build (the C compiler and Python's headers). wasmtime's
 * functions are not linked: their addresses come from the wasmtime-py wheel's own library
 * (setup()), so this file needs no wasmtime headers; the few types it uses are declared
 * below from wasmtime's crates/c-api/include (wasmtime 50).
 *
 * A reset puts back a module's fresh state: its image (memory right after instantiation,
 * kept once per module with its all-zero pages left out) is copied back over the pages a
 * call may have written (its non-zero pages, and the resident ones of the rest: see
 * restore), and the mutable globals are restored.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* -- wasmtime's C API (crates/c-api/include/wasmtime), declared by hand ------ ------------ */
typedef union {
    int32_t i32;
    int64_t i64;
    uint8_t bytes[16];
} wt_val_raw; /* wasmtime_val_raw_t: 16 bytes */

typedef void *(*wt_call_unchecked)(void *ctx, const void *func, wt_val_raw *args, size_t n,
                                   void **trap);
typedef uint8_t *(*wt_memory_data)(void *ctx, const void *memory);
typedef size_t (*wt_memory_data_size)(void *ctx, const void *memory);
typedef void *(*wt_trap_new)(const char *msg, size_t len);
typedef void (*wt_set_epoch_deadline)(void *ctx, uint64_t ticks);
typedef void *(*wt_set_fuel)(void *ctx, uint64_t fuel);
typedef void *(*wt_global_set)(void *ctx, const void *global, const void *val);
typedef void *(*wt_memory_grow)(void *ctx, const void *memory, uint64_t delta, uint64_t *prev);
typedef void (*wt_error_delete)(void *error);

static wt_call_unchecked api_call;
static wt_memory_data api_memory_data;
static wt_memory_data_size api_memory_data_size;
static wt_trap_new api_trap_new;
static wt_set_epoch_deadline api_set_epoch_deadline;
static wt_set_fuel api_set_fuel;
static wt_global_set api_global_set;
static wt_memory_grow api_memory_grow;
static wt_error_delete api_error_delete;
static double epoch_tick; /* seconds per epoch tick (the engine's ticker) */
static int api_ready;

#define VAL_SIZE 32 /* sizeof(wasmtime_val_t) */
#define PAGE 4096
#define RESIDENT_CHUNK 4096   /* pages per mincore() call */

/* -- which pages a call may have written --------------------------------------------------- */
/* A page of anonymous memory that was written is resident until the instance is gone,
 * unless it is swapped out: so mincore() lists a superset of the written pages, as long as
 * they cannot be swapped. That holds when the pages are locked (mlock2 MLOCK_ONFAULT: each
 * page locks when first touched; allowed up to RLIMIT_MEMLOCK without CAP_IPC_LOCK), or,
 * failing that, when the machine has no swap (checked once per process: swap turned on
 * later is not seen). */
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 0x01
#endif
static int swap_state = -1; /* -1: not checked, 0: no swap configured, 1: swap (or unknown) */

static int machine_has_swap(void) {
    if (swap_state < 0) {
        FILE *f = fopen("/proc/swaps", "r");
        int lines = 0, c, last = '\n';
        if (f == NULL) {
            swap_state = 1;
        } else {
            while ((c = fgetc(f)) != EOF) {
                if (c == '\n') lines++;
                last = c;
            }
            if (last != '\n') lines++;
            fclose(f);
            swap_state = lines > 1; /* a header line, then one line per swap area */
        }
    }
    return swap_state;
}

/* -- Image: a module's fresh memory and globals, shared by all its instances ------------- */
typedef struct {
    PyObject_HEAD size_t size; /* bytes of linear memory right after instantiation */
    size_t pages;
    uint8_t **page;   /* per 4 KiB page: its bytes, or NULL when it was all zero */
    uint8_t *data;    /* the non-zero pages, back to back */
    size_t nglobals;
    uint8_t *globals; /* nglobals x wasmtime_val_t */
} Image;

static void Image_dealloc(Image *self) {
    PyMem_Free(self->page);
    PyMem_Free(self->data);
    PyMem_Free(self->globals);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int all_zero(const uint8_t *p, size_t n) {
    static const uint8_t zero[PAGE];
    return memcmp(p, zero, n) == 0;
}

/* Image(base: int, size: int, globals: bytes) — copies the memory's non-zero pages. */
static PyObject *Image_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    unsigned long long base;
    Py_ssize_t size;
    Py_buffer globals;
    if (!PyArg_ParseTuple(args, "Kny*", &base, &size, &globals)) return NULL;
    if (size < 0 || size % PAGE || globals.len % VAL_SIZE) {
        PyBuffer_Release(&globals);
        PyErr_SetString(PyExc_ValueError, "bad image geometry");
        return NULL;
    }
    Image *self = (Image *)type->tp_alloc(type, 0);
    if (self == NULL) {
        PyBuffer_Release(&globals);
        return NULL;
    }
    const uint8_t *mem = (const uint8_t *)(uintptr_t)base;
    self->size = (size_t)size;
    self->pages = (size_t)size / PAGE;
    self->page = PyMem_Calloc(self->pages ? self->pages : 1, sizeof(uint8_t *));
    /* A page instantiation never touched is not resident, and zero: left unread, so this
     * instance's resets do not take it for a page a call wrote (restore). */
    unsigned char *resident = PyMem_Malloc(self->pages ? self->pages : 1);
    if (resident != NULL && self->pages && mincore((void *)mem, (size_t)size, resident) != 0)
        memset(resident, 1, self->pages);
    size_t nonzero = 0;
    for (size_t i = 0; i < self->pages; i++) {
        if (resident != NULL && !(resident[i] & 1)) continue;
        if (all_zero(mem + i * PAGE, PAGE)) {
            if (resident != NULL) resident[i] = 0;
        } else {
            nonzero++;
        }
    }
    self->data = PyMem_Malloc(nonzero ? nonzero * PAGE : 1);
    self->nglobals = (size_t)globals.len / VAL_SIZE;
    self->globals = PyMem_Malloc(globals.len ? (size_t)globals.len : 1);
    if (self->page == NULL || self->data == NULL || self->globals == NULL) {
        PyMem_Free(resident);
        PyBuffer_Release(&globals);
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    memcpy(self->globals, globals.buf, (size_t)globals.len);
    PyBuffer_Release(&globals);
    uint8_t *out = self->data;
    for (size_t i = 0; i < self->pages; i++) {
        if (resident != NULL ? !(resident[i] & 1) : all_zero(mem + i * PAGE, PAGE)) continue;
        memcpy(out, mem + i * PAGE, PAGE);
        self->page[i] = out;
        out += PAGE;
    }
    PyMem_Free(resident);
    return (PyObject *)self;
}

static PyObject *Image_held(Image *self, PyObject *unused) {
    size_t n = 0;
    for (size_t i = 0; i < self->pages; i++) n += self->page[i] != NULL;
    return PyLong_FromSize_t(n * PAGE);
}

static PyMethodDef Image_methods[] = {
    {"held", (PyCFunction)Image_held, METH_NOARGS, "Bytes of the image kept in host memory."},
    {NULL}};

static PyTypeObject ImageType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "zomehost.ribosome.native._boundary.Image",
    .tp_basicsize = sizeof(Image),
    .tp_dealloc = (destructor)Image_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A module's memory and globals right after instantiation.",
    .tp_methods = Image_methods,
    .tp_new = Image_new,
};

/* The image's page i, or NULL when it is zero (pages past the image are). */
static const uint8_t *image_page(const Image *img, size_t i) {
    return i < img->pages ? img->page[i] : NULL;
}

/* -- Instance: the externs of one live instance and how to reset it -------------------- */
typedef struct {
    PyObject_HEAD void *ctx; /* its store's context */
    const void *memory, *alloc, *free;
    uint8_t *base;
    PyObject *owner;     /* keeps the buffer the extern addresses point into alive */
    Image *image;        /* NULL: not reusable */
    PyObject *globals;   /* tuple of int: addresses of the mutable globals, in image order */
    const void **gaddr;
    size_t size;         /* bytes of memory it is reset to: the image, grown by the host */
    int resident_ok;     /* a page written since it was made stays resident (see above) */
    Py_ssize_t dirty;    /* bytes the last reset put back; -1: it could not be reset */
} Instance;

static void Instance_dealloc(Instance *self) {
    Py_XDECREF(self->owner);
    Py_XDECREF(self->image);
    Py_XDECREF(self->globals);
    PyMem_Free(self->gaddr);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Instance(ctx, memory, alloc, free, owner, image or None, globals: tuple[int, ...], size):
 * with an image, the host grows the memory to ``size`` bytes first (its fresh state for
 * calls of that tier). Such an instance can be reset only when the pages past its image
 * cannot be swapped out (see reset). */
static PyObject *Instance_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    unsigned long long ctx, memory, alloc, fr, size;
    PyObject *owner, *image, *globals;
    if (!PyArg_ParseTuple(args, "KKKKOOO!K", &ctx, &memory, &alloc, &fr, &owner, &image,
                          &PyTuple_Type, &globals, &size))
        return NULL;
    if (!api_ready) {
        PyErr_SetString(PyExc_RuntimeError, "setup() was not called");
        return NULL;
    }
    if (image != Py_None && !PyObject_TypeCheck(image, &ImageType)) {
        PyErr_SetString(PyExc_TypeError, "image must be an Image or None");
        return NULL;
    }
    Instance *self = (Instance *)type->tp_alloc(type, 0);
    if (self == NULL) return NULL;
    self->ctx = (void *)(uintptr_t)ctx;
    self->memory = (const void *)(uintptr_t)memory;
    self->alloc = (const void *)(uintptr_t)alloc;
    self->free = (const void *)(uintptr_t)fr;
    self->base = api_memory_data(self->ctx, self->memory);
    Py_INCREF(owner);
    self->owner = owner;
    Py_INCREF(globals);
    self->globals = globals;
    Py_ssize_t n = PyTuple_GET_SIZE(globals);
    self->gaddr = PyMem_Calloc(n ? (size_t)n : 1, sizeof(void *));
    if (self->gaddr == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        self->gaddr[i] = (const void *)(uintptr_t)PyLong_AsUnsignedLongLong(
            PyTuple_GET_ITEM(globals, i));
        if (PyErr_Occurred()) {
            Py_DECREF(self);
            return NULL;
        }
    }
    size_t now = api_memory_data_size(self->ctx, self->memory);
    if (size < now || size % 65536) {
        PyErr_SetString(PyExc_ValueError, "an instance's size is whole pages, its own or more");
        Py_DECREF(self);
        return NULL;
    }
    if (size > now) {
        uint64_t prev = 0;
        void *err = api_memory_grow(self->ctx, self->memory, (size - now) / 65536, &prev);
        if (err != NULL) { /* RuntimeError(the wasmtime_error_t*): its wrapper frees it */
            PyObject *addr = PyLong_FromVoidPtr(err);
            if (addr != NULL) PyErr_SetObject(PyExc_RuntimeError, addr);
            Py_XDECREF(addr);
            Py_DECREF(self);
            return NULL;
        }
        self->base = api_memory_data(self->ctx, self->memory);
    }
    self->size = (size_t)size;
    if (image != Py_None) {
        Image *img = (Image *)image;
        if ((size_t)n != img->nglobals || now != img->size) {
            PyErr_SetString(PyExc_ValueError, "the instance does not match its image");
            Py_DECREF(self);
            return NULL;
        }
        Py_INCREF(image);
        self->image = img;
        /* locked first: that holds even if swap is turned on later */
        self->resident_ok = syscall(SYS_mlock2, self->base, self->size, MLOCK_ONFAULT) == 0 ||
                            !machine_has_swap();
    }
    return (PyObject *)self;
}

/* Put memory [0, size) back to the image: its non-zero pages copied back, and of the
 * others the resident ones zeroed (a page written since the instance was made is resident,
 * see above; one never touched is not, and stays untouched) — all of them when residency
 * cannot be trusted. Returns the bytes written. */
static size_t restore(const Image *img, uint8_t *base, size_t size, int resident_ok) {
    unsigned char vec[RESIDENT_CHUNK];
    size_t written = 0, pages = size / PAGE;
    for (size_t at = 0; at < pages; at += RESIDENT_CHUNK) {
        size_t n = pages - at < RESIDENT_CHUNK ? pages - at : RESIDENT_CHUNK;
        uint8_t *chunk = base + at * PAGE;
        int known = resident_ok && mincore(chunk, n * PAGE, vec) == 0;
        size_t i = 0;
        while (i < n) {
            const uint8_t *src = image_page(img, at + i);
            if (src != NULL) {
                memcpy(chunk + i * PAGE, src, PAGE);
                written += PAGE;
                i++;
            } else if (known && !(vec[i] & 1)) {
                i++;
            } else {
                size_t j = i;
                while (j < n && image_page(img, at + j) == NULL && (!known || (vec[j] & 1))) j++;
                memset(chunk + i * PAGE, 0, (j - i) * PAGE);
                written += (j - i) * PAGE;
                i = j;
            }
        }
    }
    return written;
}

/* Put the instance back to its fresh state (memory and mutable globals); ``dirty`` says
 * how many bytes that wrote, or -1 when it is impossible: no image, a memory that grew
 * (memory cannot shrink), or a memory grown by the host past its image whose pages'
 * residency cannot be trusted. Such an instance must not be used again. */
static int reset(Instance *self) {
    Image *img = self->image;
    self->dirty = -1;
    if (img == NULL || api_memory_data_size(self->ctx, self->memory) != self->size ||
        (self->size > img->size && !self->resident_ok))
        return 0;
    size_t written = restore(img, self->base, self->size, self->resident_ok);
    for (size_t i = 0; i < img->nglobals; i++) {
        void *err = api_global_set(self->ctx, self->gaddr[i], img->globals + i * VAL_SIZE);
        if (err != NULL) { /* cannot happen: same type, mutable */
            api_error_delete(err);
            return 0;
        }
    }
    self->dirty = (Py_ssize_t)written;
    return 1;
}

static PyObject *Instance_reset(Instance *self, PyObject *unused) {
    return PyBool_FromLong(reset(self));
}

static PyMethodDef Instance_methods[] = {
    {"reset", (PyCFunction)Instance_reset, METH_NOARGS,
     "Put the instance back to its image; False when impossible."},
    {NULL}};

static PyMemberDef Instance_members[] = {
    {"dirty", T_PYSSIZET, offsetof(Instance, dirty), READONLY,
     "Bytes the last reset put back; -1: it could not be reset (never use it again)."},
    {NULL}};

static PyTypeObject InstanceType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "zomehost.ribosome.native._boundary.Instance",
    .tp_basicsize = sizeof(Instance),
    .tp_dealloc = (destructor)Instance_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The externs of one live instance, and its reset.",
    .tp_methods = Instance_methods,
    .tp_members = Instance_members,
    .tp_new = Instance_new,
};

/* -- the call ------------------------------------------------------------------------------ */
enum {
    FAIL_ERROR = 1,        /* a wasmtime_error_t* (a), in the allocator (b 0) or export (1) */
    FAIL_TRAP = 2,         /* a wasm_trap_t* (a), likewise */
    FAIL_NO_INPUT = 3,     /* the allocator returned 0 for (a) input bytes */
    FAIL_INPUT_PTR = 4,    /* the allocator's block (a, b) is outside memory */
    FAIL_OUTPUT_LIMIT = 5, /* the export returned (a) bytes, more than allowed */
    FAIL_OUTPUT_PTR = 6,   /* the export's result (a, b) is outside memory */
    FAIL_FUEL = 7,         /* setting fuel failed: a wasmtime_error_t* (a) */
    FAIL_HOST = 8,         /* a host function failed: the call object holds the reason */
    FAIL_DEADLINE = 9,     /* the call's deadline passed before the export started */
};
/* invoke's flags */
enum {
    RESET = 1,    /* after a clean call, reset the instance (its ``dirty`` says how it went) */
    OK_VALUE = 2, /* an {"Ok": value} envelope comes back as the value's bytes alone */
};
/* {"Ok": …} in MessagePack: a map of one entry whose key is the fixstr "Ok" */
static const uint8_t ok_prefix[4] = {0x81, 0xa2, 'O', 'k'};
/* What a host function can go wrong with before or after its body, reported to fault(). */
enum {
    HOST_OUTSIDE = 1,       /* no zome call on this thread */
    HOST_REENTRANT = 2,     /* called while the host served this call */
    HOST_INPUT_LIMIT = 3,   /* input of (a) bytes past max_host_payload */
    HOST_INPUT_PTR = 4,     /* input (a, b) outside memory */
    HOST_NO_RESULT = 5,     /* the guest allocator returned 0 for (a) bytes */
    HOST_RESULT_PTR = 6,    /* the allocator's block (a, b) is outside memory */
    HOST_ALLOC_TRAP = 7,    /* the allocator trapped: a wasm_trap_t* (a) */
    HOST_ALLOC_ERROR = 8,   /* the allocator failed: a wasmtime_error_t* (a) */
    HOST_PYTHON = 9,        /* the Python side raised (should not happen): exception set */
};

typedef struct Active {
    Instance *inst;
    PyObject *call; /* the Python GuestCall */
    PyThreadState *ts;
    uint64_t max_host;
    int serving;
    struct Active *prev;
} Active;

static __thread Active *current;
static PyObject *host_body; /* (call, index, input: bytes) -> bytes | str */
static PyObject *host_fault; /* (call, index, what, a, b) -> str */
static PyObject *host_stray; /* (index) -> str: a host call with no zome call to serve */

static size_t mem_size(Instance *inst) { return api_memory_data_size(inst->ctx, inst->memory); }

/* With the GIL: ask Python for the typed fault; return the trap to give the guest. */
static void *fault_trap(Active *a, Py_ssize_t index, int what, uint64_t x, uint64_t y) {
    PyObject *msg = NULL;
    if (what == HOST_PYTHON) {
        PyErr_WriteUnraisable(host_body);
    } else {
        msg = PyObject_CallFunction(host_fault, "OniKK", a ? a->call : Py_None, index, what,
                                    (unsigned long long)x, (unsigned long long)y);
        if (msg == NULL) PyErr_WriteUnraisable(host_fault);
    }
    Py_ssize_t len = 0;
    const char *text = msg && PyUnicode_Check(msg) ? PyUnicode_AsUTF8AndSize(msg, &len) : NULL;
    if (text == NULL) {
        PyErr_Clear();
        text = "host function failed";
        len = (Py_ssize_t)strlen(text);
    }
    void *trap = api_trap_new(text, (size_t)len);
    Py_XDECREF(msg);
    return trap;
}

/* The one callback every host import goes through (env: the host function's index + 1). */
static void *trampoline(void *env, void *caller, wt_val_raw *args, size_t nargs) {
    Py_ssize_t index = (Py_ssize_t)(uintptr_t)env - 1;
    Active *a = current;
    if (a == NULL || a->ts == NULL) {
        /* no call of this boundary is waiting in the guest (a start function runs): the
         * thread may not hold the GIL (ctypes released it to instantiate) */
        PyGILState_STATE gil = PyGILState_Ensure();
        PyObject *msg = PyObject_CallFunction(host_stray, "n", index);
        Py_ssize_t len = 0;
        const char *text = msg && PyUnicode_Check(msg) ? PyUnicode_AsUTF8AndSize(msg, &len) : NULL;
        if (text == NULL) {
            PyErr_Clear();
            text = "a host function was called outside a zome call";
            len = (Py_ssize_t)strlen(text);
        }
        void *trap = api_trap_new(text, (size_t)len);
        Py_XDECREF(msg);
        PyGILState_Release(gil);
        return trap;
    }
    uint32_t ptr = (uint32_t)args[0].i32, len = (uint32_t)args[1].i32;
    Instance *inst = a->inst;
    PyEval_RestoreThread(a->ts);
    a->ts = NULL;
    void *trap = NULL;
    if (a->serving) {
        trap = fault_trap(a, index, HOST_REENTRANT, 0, 0);
        goto out;
    }
    if (len > a->max_host) {
        trap = fault_trap(a, index, HOST_INPUT_LIMIT, len, 0);
        goto out;
    }
    size_t size = mem_size(inst);
    if ((uint64_t)ptr + len > size) {
        trap = fault_trap(a, index, HOST_INPUT_PTR, ptr, len);
        goto out;
    }
    a->serving = 1;
    PyObject *input = PyBytes_FromStringAndSize((const char *)inst->base + ptr, len);
    PyObject *result = NULL;
    if (input != NULL) {
        PyObject *at = PyLong_FromSsize_t(index);
        if (at != NULL) {
            PyObject *argv[3] = {a->call, at, input};
            result = PyObject_Vectorcall(host_body, argv, 3, NULL);
            Py_DECREF(at);
        }
    }
    Py_XDECREF(input);
    if (result == NULL) {
        trap = fault_trap(a, index, HOST_PYTHON, 0, 0);
        goto served;
    }
    int framed = PyTuple_Check(result) && PyTuple_GET_SIZE(result) == 1 &&
                 PyBytes_Check(PyTuple_GET_ITEM(result, 0));
    if (!framed && !PyBytes_Check(result)) { /* the fault's message: the body recorded it */
        Py_ssize_t n = 0;
        const char *text = PyUnicode_Check(result) ? PyUnicode_AsUTF8AndSize(result, &n) : NULL;
        if (text == NULL) {
            PyErr_Clear();
            text = "host function failed";
            n = (Py_ssize_t)strlen(text);
        }
        trap = api_trap_new(text, (size_t)n);
        Py_DECREF(result);
        goto served;
    }
    /* the result envelope into a block the guest allocates: the body's envelope, or for
     * (value: bytes,) the envelope {"Ok": value} written here, as msgpack would (its map
     * and key, the shortest bin header, the bytes) */
    PyObject *data = result;
    uint8_t head[9];
    size_t h = 0;
    if (framed) {
        data = PyTuple_GET_ITEM(result, 0);
        size_t len = (size_t)PyBytes_GET_SIZE(data);
        memcpy(head, ok_prefix, sizeof ok_prefix);
        h = sizeof ok_prefix;
        if (len < 0x100) {
            head[h++] = 0xc4;
            head[h++] = (uint8_t)len;
        } else if (len < 0x10000) {
            head[h++] = 0xc5;
            head[h++] = (uint8_t)(len >> 8);
            head[h++] = (uint8_t)len;
        } else {
            head[h++] = 0xc6;
            for (int shift = 24; shift >= 0; shift -= 8) head[h++] = (uint8_t)(len >> shift);
        }
    }
    Py_ssize_t n = (Py_ssize_t)h + PyBytes_GET_SIZE(data);
    wt_val_raw vals[2];
    vals[0].i64 = 0;
    vals[0].i32 = (int32_t)n;
    void *alloc_trap = NULL;
    a->ts = PyEval_SaveThread();
    void *err = api_call(inst->ctx, inst->alloc, vals, 1, &alloc_trap);
    PyEval_RestoreThread(a->ts);
    a->ts = NULL;
    if (err != NULL || alloc_trap != NULL) {
        trap = err ? fault_trap(a, index, HOST_ALLOC_ERROR, (uintptr_t)err, 0)
                   : fault_trap(a, index, HOST_ALLOC_TRAP, (uintptr_t)alloc_trap, 0);
    } else {
        uint32_t out = (uint32_t)vals[0].i32;
        size = mem_size(inst);
        if (out == 0 && n)
            trap = fault_trap(a, index, HOST_NO_RESULT, (uint64_t)n, 0);
        else if ((uint64_t)out + (uint64_t)n > size)
            trap = fault_trap(a, index, HOST_RESULT_PTR, out, (uint64_t)n);
        else {
            memcpy(inst->base + out, head, h);
            memcpy(inst->base + out + h, PyBytes_AS_STRING(data), (size_t)n - h);
            args[0].i64 = (int64_t)(((uint64_t)out << 32) | (uint64_t)(uint32_t)n);
        }
    }
    Py_DECREF(result);
served:
    a->serving = 0;
out:
    a->ts = PyEval_SaveThread();
    return trap;
}

static PyObject *fail(int what, uint64_t x, uint64_t y) {
    return Py_BuildValue("(iKK)", what, (unsigned long long)x, (unsigned long long)y);
}

/* Call a guest function with the GIL released. */
static void *guest(Active *a, const void *func, wt_val_raw *vals, size_t n, void **trap) {
    a->ts = PyEval_SaveThread();
    void *err = api_call(a->inst->ctx, func, vals, n, trap);
    PyEval_RestoreThread(a->ts);
    a->ts = NULL;
    return err;
}

/* Epoch ticks left until ``deadline`` (time.monotonic()'s clock); 0: it has passed. */
static uint64_t ticks_until(double deadline) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double remaining = deadline - ((double)now.tv_sec + (double)now.tv_nsec * 1e-9);
    if (!(remaining > 0)) return 0;
    double ticks = remaining / epoch_tick + 1;
    return ticks >= 1e18 ? (uint64_t)1e18 : (uint64_t)ticks;
}

/* invoke(inst, func, payload, deadline, fuel, max_output, max_host, call, flags)
 *   -> bytes (the export's result; with OK_VALUE, the value of an {"Ok": value} envelope)
 *    | (result,): with OK_VALUE, a result that is not such an envelope
 *    | (what, a, b): a failure, see FAIL_*.
 * deadline: time.monotonic() seconds; fuel < 0: the engine does not consume fuel. */
/* The parameters of one call, as invoke() and Pool.run() take them. */
typedef struct {
    double deadline;
    long long fuel;
    unsigned long long max_output, max_host;
    long flags;
} Params;

static int params(Params *p, PyObject *deadline, PyObject *fuel, PyObject *max_output,
                  PyObject *max_host, PyObject *flags) {
    p->deadline = PyFloat_AsDouble(deadline);
    p->fuel = PyLong_AsLongLong(fuel);
    p->max_output = PyLong_AsUnsignedLongLong(max_output);
    p->max_host = PyLong_AsUnsignedLongLong(max_host);
    p->flags = PyLong_AsLong(flags);
    return PyErr_Occurred() ? -1 : 0;
}

static PyObject *call_guest(Instance *inst, const void *func, PyObject *payload,
                            const Params *p, PyObject *call);

static PyObject *invoke(PyObject *mod, PyObject *const *argv, Py_ssize_t argc) {
    if (argc != 9 || !PyObject_TypeCheck(argv[0], &InstanceType) || !PyBytes_Check(argv[2])) {
        PyErr_SetString(PyExc_TypeError,
                        "invoke(inst, func, payload: bytes, deadline, fuel, max_output, "
                        "max_host, call, flags)");
        return NULL;
    }
    Params p;
    const void *func = PyLong_AsVoidPtr(argv[1]);
    if (params(&p, argv[3], argv[4], argv[5], argv[6], argv[8]) < 0) return NULL;
    return call_guest((Instance *)argv[0], func, argv[2], &p, argv[7]);
}

/* One call of ``func`` on ``inst`` (see invoke). */
static PyObject *call_guest(Instance *inst, const void *func, PyObject *payload,
                            const Params *p, PyObject *call) {
    double deadline = p->deadline;
    long long fuel = p->fuel;
    unsigned long long max_output = p->max_output, max_host = p->max_host;
    long flags = p->flags;
    Py_ssize_t n = PyBytes_GET_SIZE(payload);
    uint64_t ticks = ticks_until(deadline);
    if (ticks == 0) return fail(FAIL_DEADLINE, 0, 0);
    api_set_epoch_deadline(inst->ctx, ticks);
    if (fuel >= 0) {
        void *err = api_set_fuel(inst->ctx, (uint64_t)fuel);
        if (err != NULL) return fail(FAIL_FUEL, (uintptr_t)err, 0);
    }
    Active a = {.inst = inst, .call = call, .max_host = max_host, .prev = current};
    current = &a;
    PyObject *ret = NULL;
    wt_val_raw vals[2];
    void *trap = NULL, *err;
    memset(vals, 0, sizeof vals);
    vals[0].i32 = (int32_t)n;
    err = guest(&a, inst->alloc, vals, 1, &trap);
    if (err || trap) { /* b: 0, the guest allocator was running */
        ret = fail(err ? FAIL_ERROR : FAIL_TRAP, (uintptr_t)(err ? err : trap), 0);
        goto done;
    }
    uint32_t ptr = (uint32_t)vals[0].i32;
    if (ptr == 0 && n) {
        ret = fail(FAIL_NO_INPUT, (uint64_t)n, 0);
        goto done;
    }
    if ((uint64_t)ptr + (uint64_t)n > mem_size(inst)) {
        ret = fail(FAIL_INPUT_PTR, ptr, (uint64_t)n);
        goto done;
    }
    memcpy(inst->base + ptr, PyBytes_AS_STRING(payload), (size_t)n);
    memset(vals, 0, sizeof vals);
    vals[0].i32 = (int32_t)ptr;
    vals[1].i32 = (int32_t)n;
    err = guest(&a, func, vals, 2, &trap);
    if (err || trap) { /* b: 1, the export's own code was running */
        ret = fail(err ? FAIL_ERROR : FAIL_TRAP, (uintptr_t)(err ? err : trap), 1);
        goto done;
    }
    uint64_t packed = (uint64_t)vals[0].i64;
    uint32_t out_ptr = (uint32_t)(packed >> 32), out_len = (uint32_t)packed;
    if (out_len > max_output) {
        ret = fail(FAIL_OUTPUT_LIMIT, out_len, 0);
        goto done;
    }
    if ((uint64_t)out_ptr + out_len > mem_size(inst)) {
        ret = fail(FAIL_OUTPUT_PTR, out_ptr, out_len);
        goto done;
    }
    const uint8_t *result = inst->base + out_ptr;
    int ok = (flags & OK_VALUE) && out_len >= sizeof ok_prefix &&
             memcmp(result, ok_prefix, sizeof ok_prefix) == 0;
    size_t skip = ok ? sizeof ok_prefix : 0;
    PyObject *out = PyBytes_FromStringAndSize((const char *)result + skip, out_len - skip);
    if (out == NULL) goto done;
    memset(vals, 0, sizeof vals);
    vals[0].i32 = (int32_t)out_ptr;
    vals[1].i32 = (int32_t)out_len;
    err = guest(&a, inst->free, vals, 2, &trap);
    if (err || trap) {
        Py_DECREF(out);
        ret = fail(err ? FAIL_ERROR : FAIL_TRAP, (uintptr_t)(err ? err : trap), 0);
        goto done;
    }
    if (flags & RESET) reset(inst);
    if ((flags & OK_VALUE) && !ok) {
        ret = PyTuple_Pack(1, out);
        Py_DECREF(out);
    } else {
        ret = out;
    }
done:
    current = a.prev;
    return ret;
}

/* -- Pool: a thread's idle instances, and the usual call on one of them ------------------ */
/* slots: a dict (module key, tier) -> (store, inst, call, native Instance, the instance's
 * export addresses by name, its store's memory cap), least recently kept first; held: the
 * bytes their last resets wrote (what they keep resident), at most ``cache``; at most
 * ``most`` of them. nativepath.py keeps and takes instances in it too, by the same rules. */
enum { SLOT_CALL = 2, SLOT_NATIVE = 3, SLOT_FUNCS = 4, SLOT_CAP = 5, SLOT_SIZE = 6 };

typedef struct {
    PyObject_HEAD PyObject *slots;
    PyObject *stack; /* the thread's stack of running calls (boundary.active_calls.stack) */
    PyObject *unserved; /* the dispatch an idle call object holds (not the last call's) */
    Py_ssize_t held, cache, most, uncharged;
} Pool;

static PyObject *str_limits, *str_deadline, *str_dispatch, *str_fault, *str_interrupt;

static void Pool_dealloc(Pool *self) {
    Py_XDECREF(self->slots);
    Py_XDECREF(self->stack);
    Py_XDECREF(self->unserved);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Pool(stack: list, cache: int, most: int, uncharged: int, unserved) */
static PyObject *Pool_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    PyObject *stack, *unserved;
    Py_ssize_t cache, most, uncharged;
    if (!PyArg_ParseTuple(args, "O!nnnO", &PyList_Type, &stack, &cache, &most, &uncharged,
                          &unserved))
        return NULL;
    Pool *self = (Pool *)type->tp_alloc(type, 0);
    if (self == NULL) return NULL;
    self->slots = PyDict_New();
    if (self->slots == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    Py_INCREF(stack);
    self->stack = stack;
    Py_INCREF(unserved);
    self->unserved = unserved;
    self->cache = cache;
    self->most = most;
    self->uncharged = uncharged;
    return (PyObject *)self;
}

static Py_ssize_t slot_held(PyObject *slot) {
    return ((Instance *)PyTuple_GET_ITEM(slot, SLOT_NATIVE))->dirty;
}

/* Drop the least recently kept slots while the pool is over its bounds. */
static int pool_trim(Pool *self) {
    while (self->held > self->cache || PyDict_GET_SIZE(self->slots) > self->most) {
        Py_ssize_t pos = 0;
        PyObject *key, *slot;
        if (!PyDict_Next(self->slots, &pos, &key, &slot)) break;
        self->held -= slot_held(slot);
        Py_INCREF(key);
        int err = PyDict_DelItem(self->slots, key); /* may free a store: Python runs */
        Py_DECREF(key);
        if (err < 0) return -1;
    }
    return 0;
}

/* Pool.run(key, export, payload, deadline, fuel, max_output, max_host, memory_bytes, limits,
 *          dispatch, flags)
 *   -> None: not the usual call (the caller takes the general way; nothing was done)
 *    | what invoke() returns for a clean call (the instance is kept again)
 *    | (call, failure): the call failed; its instance is not kept.
 * The usual call: an idle instance of ``key`` whose last call was a ``run`` (its call object
 * is taken over: limits, deadline and dispatch set), with ``export`` looked up, its store
 * capped at ``memory_bytes``, and a memory of at most ``uncharged`` bytes and the cap. */
static PyObject *Pool_run(Pool *self, PyObject *const *argv, Py_ssize_t argc) {
    if (argc != 11 || !PyBytes_Check(argv[2])) {
        PyErr_SetString(PyExc_TypeError,
                        "run(key, export, payload: bytes, deadline, fuel, max_output, "
                        "max_host, memory_bytes, limits, dispatch, flags)");
        return NULL;
    }
    PyObject *key = argv[0], *slot = PyDict_GetItemWithError(self->slots, key);
    if (slot == NULL) {
        if (PyErr_Occurred()) return NULL;
        Py_RETURN_NONE;
    }
    if (!PyTuple_Check(slot) || PyTuple_GET_SIZE(slot) != SLOT_SIZE ||
        !PyObject_TypeCheck(PyTuple_GET_ITEM(slot, SLOT_NATIVE), &InstanceType)) {
        PyErr_SetString(PyExc_TypeError, "a pool slot is not a slot");
        return NULL;
    }
    PyObject *call = PyTuple_GET_ITEM(slot, SLOT_CALL);
    Instance *inst = (Instance *)PyTuple_GET_ITEM(slot, SLOT_NATIVE);
    if (call == Py_None) Py_RETURN_NONE;
    int same_cap = PyObject_RichCompareBool(PyTuple_GET_ITEM(slot, SLOT_CAP), argv[7], Py_EQ);
    if (same_cap < 0) return NULL;
    long long cap = PyLong_AsLongLong(argv[7]);
    if (cap == -1 && PyErr_Occurred()) return NULL;
    if (!same_cap || (Py_ssize_t)inst->size > self->uncharged || (long long)inst->size > cap)
        Py_RETURN_NONE;
    PyObject *address = PyDict_GetItemWithError(PyTuple_GET_ITEM(slot, SLOT_FUNCS), argv[1]);
    if (address == NULL) {
        if (PyErr_Occurred()) return NULL;
        Py_RETURN_NONE;
    }
    const void *func = address == Py_None ? NULL : PyLong_AsVoidPtr(address);
    Params p;
    if (params(&p, argv[3], argv[4], argv[5], argv[6], argv[10]) < 0) return NULL;
    if (func == NULL) Py_RETURN_NONE;
    /* take it */
    Py_INCREF(slot);
    Py_INCREF(call);
    PyObject *out = NULL;
    if (PyDict_DelItem(self->slots, key) < 0) goto done;
    self->held -= inst->dirty;
    if (PyObject_SetAttr(call, str_limits, argv[8]) < 0 ||
        PyObject_SetAttr(call, str_deadline, argv[3]) < 0 ||
        PyObject_SetAttr(call, str_dispatch, argv[9]) < 0 || PyList_Append(self->stack, call) < 0)
        goto done;
    out = call_guest(inst, func, argv[2], &p, call);
    Py_ssize_t depth = PyList_GET_SIZE(self->stack);
    if (depth > 0 && PyList_SetSlice(self->stack, depth - 1, depth, NULL) < 0) Py_CLEAR(out);
    if (out == NULL) goto done;
    int clean = PyBytes_Check(out) || (PyTuple_Check(out) && PyTuple_GET_SIZE(out) == 1);
    PyObject *fault = PyObject_GetAttr(call, str_fault);
    PyObject *interrupt = fault ? PyObject_GetAttr(call, str_interrupt) : NULL;
    if (interrupt == NULL) {
        Py_XDECREF(fault);
        Py_CLEAR(out);
        goto done;
    }
    clean = clean && fault == Py_None && interrupt == Py_None;
    Py_DECREF(fault);
    Py_DECREF(interrupt);
    /* the call is over: its dispatch (and what that holds: the call's context) goes now */
    if (PyObject_SetAttr(call, str_dispatch, self->unserved) < 0) {
        Py_CLEAR(out);
        goto done;
    }
    if (!clean) {
        Py_SETREF(out, PyTuple_Pack(2, call, out));
        goto done;
    }
    /* reset by call_guest: keep it for the next call, one per key, within the bounds */
    int there = PyDict_Contains(self->slots, key);
    if (there < 0) {
        Py_CLEAR(out);
    } else if (!there && inst->dirty >= 0 && inst->dirty <= self->cache) {
        if (PyDict_SetItem(self->slots, key, slot) < 0) {
            Py_CLEAR(out);
        } else {
            self->held += inst->dirty;
            if (pool_trim(self) < 0) Py_CLEAR(out);
        }
    }
done:
    Py_DECREF(call);
    Py_DECREF(slot);
    return out;
}

static PyObject *pool_trim_py(Pool *self, PyObject *unused) {
    if (pool_trim(self) < 0) return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef Pool_methods[] = {
    {"run", (PyCFunction)(void (*)(void))Pool_run, METH_FASTCALL,
     "The usual call on an idle instance; None when it is not one."},
    {"trim", (PyCFunction)(void (*)(void))pool_trim_py, METH_NOARGS,
     "Drop the least recently kept instances while over the bounds."},
    {NULL}};

static PyMemberDef Pool_members[] = {
    {"slots", T_OBJECT_EX, offsetof(Pool, slots), READONLY, "The idle instances by key."},
    {"held", T_PYSSIZET, offsetof(Pool, held), 0, "Bytes they keep resident."},
    {"cache", T_PYSSIZET, offsetof(Pool, cache), READONLY, "The bound on held."},
    {NULL}};

static PyTypeObject PoolType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "zomehost.ribosome.native._boundary.Pool",
    .tp_basicsize = sizeof(Pool),
    .tp_dealloc = (destructor)Pool_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A thread's idle instances.",
    .tp_methods = Pool_methods,
    .tp_members = Pool_members,
    .tp_new = Pool_new,
};

/* setup(addresses: dict[str, int], host_body, host_fault, host_stray, epoch_tick: float) */
static PyObject *setup(PyObject *mod, PyObject *args) {
    PyObject *addrs, *body, *fault, *stray;
    double tick;
    if (!PyArg_ParseTuple(args, "O!OOOd", &PyDict_Type, &addrs, &body, &fault, &stray, &tick))
        return NULL;
    if (!(tick > 0)) {
        PyErr_SetString(PyExc_ValueError, "the epoch tick must be positive");
        return NULL;
    }
    struct {
        const char *name;
        void **slot;
    } want[] = {
        {"wasmtime_func_call_unchecked", (void **)&api_call},
        {"wasmtime_memory_data", (void **)&api_memory_data},
        {"wasmtime_memory_data_size", (void **)&api_memory_data_size},
        {"wasmtime_trap_new", (void **)&api_trap_new},
        {"wasmtime_context_set_epoch_deadline", (void **)&api_set_epoch_deadline},
        {"wasmtime_context_set_fuel", (void **)&api_set_fuel},
        {"wasmtime_global_set", (void **)&api_global_set},
        {"wasmtime_memory_grow", (void **)&api_memory_grow},
        {"wasmtime_error_delete", (void **)&api_error_delete},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        PyObject *v = PyDict_GetItemString(addrs, want[i].name);
        void *p = v ? PyLong_AsVoidPtr(v) : NULL;
        if (p == NULL) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_KeyError, "no address for %s", want[i].name);
            return NULL;
        }
        *want[i].slot = p;
    }
    Py_INCREF(body);
    Py_XSETREF(host_body, body);
    Py_INCREF(fault);
    Py_XSETREF(host_fault, fault);
    Py_INCREF(stray);
    Py_XSETREF(host_stray, stray);
    epoch_tick = tick;
    api_ready = 1;
    Py_RETURN_NONE;
}

static PyObject *trampoline_address(PyObject *mod, PyObject *unused) {
    return PyLong_FromVoidPtr((void *)trampoline);
}

static PyMethodDef methods[] = {

    {"setup", setup, METH_VARARGS, "Give the module wasmtime's functions and the host hooks."},
    {"invoke", (PyCFunction)(void (*)(void))invoke, METH_FASTCALL, "Run one zome call."},
    {"trampoline_address", trampoline_address, METH_NOARGS,
     "The C callback every host import is defined with (env: index + 1)."},

    {NULL}};

static struct PyModuleDef moduledef = {PyModuleDef_HEAD_INIT, "_boundary",
                                       "The native wasm boundary (see _boundary.c).", -1,
                                       methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__boundary(void) {
    if (PyType_Ready(&ImageType) < 0 || PyType_Ready(&InstanceType) < 0 ||
        PyType_Ready(&PoolType) < 0)
        return NULL;
    struct {
        PyObject **slot;
        const char *name;
    } names[] = {{&str_limits, "limits"},     {&str_deadline, "deadline"},
                 {&str_dispatch, "dispatch"}, {&str_fault, "fault"},
                 {&str_interrupt, "interrupt"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if ((*names[i].slot = PyUnicode_InternFromString(names[i].name)) == NULL) return NULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (m == NULL) return NULL;
    Py_INCREF(&ImageType);
    Py_INCREF(&InstanceType);
    Py_INCREF(&PoolType);
    if (PyModule_AddObject(m, "Image", (PyObject *)&ImageType) < 0 ||
        PyModule_AddObject(m, "Instance", (PyObject *)&InstanceType) < 0 ||
        PyModule_AddObject(m, "Pool", (PyObject *)&PoolType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
