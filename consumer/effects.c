/* consumer/effects.c — see effects.h. Effects are kept as records pointing into one string arena
 * so queuing costs no allocation once the arena has grown. */
#include "effects.h"

#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

typedef struct {
    int op;
    int guard;
    size_t key, field, value; /* arena offsets + 1; 0 = absent */
} fx_rec_t;

struct evf_fx_s {
    fx_rec_t *recs; /* guards and effects in queue order; guards have guard = -1 */
    size_t nrecs, caprecs, max_ops;
    int nguards;
    char *arena;
    size_t alen, acap;
};

/* The completion script. KEYS: every key referenced, in argument order. ARGV[1] = now (ms),
 * ARGV[2] = number of events, then per event: record key index (0 = none), token, ttl ms,
 * fingerprint, guard count, effect count, guards (op, key index, field, value) and effects (guard
 * id, op, key index, field, value). Returns one status string per event. `#!lua` without flags:
 * Redis refuses the whole script up front when out of memory, never half-way. */
static const char fx_script_src[] =
    "#!lua\n"
    "-- Bytewise: Lua's < follows the server's LC_COLLATE.\n"
    "local function strlt(a, b)\n"
    "  local n = math.min(#a, #b)\n"
    "  for i = 1, n do\n"
    "    local x, y = string.byte(a, i), string.byte(b, i)\n"
    "    if x ~= y then return x < y end\n"
    "  end\n"
    "  return #a < #b end\n"
    "local function numlt(a, b)\n"
    "  a = string.gsub(a, '^0+', '') b = string.gsub(b, '^0+', '')\n"
    "  if #a ~= #b then return #a < #b end\n"
    "  return strlt(a, b)\n"
    "end\n"
    "local function hexlt(a, b)\n"
    "  a = string.lower(a) b = string.lower(b)\n"
    "  if #a < #b then a = string.rep('0', #b - #a) .. a end\n"
    "  if #b < #a then b = string.rep('0', #a - #b) .. b end\n"
    "  return strlt(a, b)\n"
    "end\n"
    "local need = {['1']='hash',['2']='hash',['3']='hash',['4']='hash',['5']='hash',\n"
    "  ['6']='hash',['7']='string',['8']='string',['10']='set',['11']='set'}\n"
    "-- Exact decimal addition of two int64 strings; nil when the sum leaves int64 (Lua numbers\n"
    "-- are doubles, too coarse near 2^63).\n"
    "local function cmpabs(a, b)\n"
    "  if #a ~= #b then return #a < #b and -1 or 1 end\n"
    "  if a == b then return 0 end\n"
    "  return strlt(a, b) and -1 or 1 end\n"
    "local function digits(r)\n"
    "  local s = string.gsub(string.reverse(table.concat(r)), '^0+', '')\n"
    "  if s == '' then return '0' end return s end\n"
    "local function addabs(a, b)\n"
    "  local r, c, i, j = {}, 0, #a, #b\n"
    "  while i > 0 or j > 0 or c > 0 do\n"
    "    local d = (i > 0 and tonumber(string.sub(a, i, i)) or 0) +\n"
    "      (j > 0 and tonumber(string.sub(b, j, j)) or 0) + c\n"
    "    r[#r + 1] = d % 10 c = math.floor(d / 10) i = i - 1 j = j - 1\n"
    "  end\n"
    "  return digits(r) end\n"
    "local function subabs(a, b)\n"
    "  local r, c, i, j = {}, 0, #a, #b\n"
    "  while i > 0 do\n"
    "    local d = tonumber(string.sub(a, i, i)) - (j > 0 and tonumber(string.sub(b, j, j)) or 0) - c\n"
    "    if d < 0 then d = d + 10 c = 1 else c = 0 end\n"
    "    r[#r + 1] = d i = i - 1 j = j - 1\n"
    "  end\n"
    "  return digits(r) end\n"
    "local function intadd(a, b)\n"
    "  -- Both below 10^15: the double sum is exact (< 2^53); the digit loop is for the rest.\n"
    "  if #a < 16 and #b < 16 then\n"
    "    local n = tonumber(a) + tonumber(b)\n"
    "    if n == 0 then return '0' end\n"
    "    return string.format('%.0f', n) end\n"
    "  local na, nb = string.sub(a, 1, 1) == '-', string.sub(b, 1, 1) == '-'\n"
    "  local ma = na and string.sub(a, 2) or a local mb = nb and string.sub(b, 2) or b\n"
    "  local neg, m\n"
    "  if na == nb then neg = na m = addabs(ma, mb)\n"
    "  elseif cmpabs(ma, mb) >= 0 then neg = na m = subabs(ma, mb)\n"
    "  else neg = nb m = subabs(mb, ma) end\n"
    "  if m == '0' then return '0' end\n"
    "  if cmpabs(m, neg and '9223372036854775808' or '9223372036854775807') > 0 then return nil end\n"
    "  return (neg and '-' or '') .. m end\n"
    "local function isint(v) return v == '0' or string.match(v, '^-?[1-9]%d*$') ~= nil end\n"
    "local function isnum(v) return tonumber(v) ~= nil and not string.match(v, '^%s') and\n"
    "  not string.match(v, '%s$') end\n"
    "local now = ARGV[1]\n"
    "local nev = tonumber(ARGV[2])\n"
    "local p = 3\n"
    "local out = {}\n"
    "for e = 1, nev do\n"
    "  local rec = tonumber(ARGV[p]) local token = ARGV[p+1] local ttl = ARGV[p+2]\n"
    "  local fp = ARGV[p+3]\n"
    "  local ng = tonumber(ARGV[p+4]) local ne = tonumber(ARGV[p+5])\n"
    "  p = p + 6\n"
    "  local gs = p p = p + 4 * ng\n"
    "  local es = p p = p + 5 * ne\n"
    "  local status = 'ok'\n"
    "  if rec > 0 then\n"
    "    local cur = redis.call('HMGET', KEYS[rec], 'token', 'state')\n"
    "    if cur[1] ~= token then status = 'fenced'\n"
    "    elseif cur[2] == 'done' then status = 'already' end\n"
    "  end\n"
    "  local pass = {}\n"
    "  if status == 'ok' then\n"
    "    for g = 1, ng do\n"
    "      local b = gs + 4 * (g - 1)\n"
    "      local op = ARGV[b] local k = KEYS[tonumber(ARGV[b+1])] local f = ARGV[b+2]\n"
    "      local v = ARGV[b+3] local cur = false\n"
    "      local t = redis.call('TYPE', k)['ok']\n"
    "      if f == '' then\n"
    "        if op == '4' then cur = (t ~= 'none') and '' or false\n"
    "        elseif t == 'string' then cur = redis.call('GET', k)\n"
    "        elseif t ~= 'none' then status = 'rejected: guard without a field on ' .. k ..\n"
    "          ', a ' .. t break end\n"
    "      elseif t == 'hash' then cur = redis.call('HGET', k, f)\n"
    "      elseif t ~= 'none' then status = 'rejected: guard on field ' .. f .. ' of ' .. k ..\n"
    "        ', a ' .. t break end\n"
    "      if op == '1' then pass[g] = (not cur) or numlt(cur, v)\n"
    "      elseif op == '2' then pass[g] = (not cur) or hexlt(cur, v)\n"
    "      elseif op == '3' then pass[g] = (not cur) or strlt(cur, v)\n"
    "      elseif op == '4' then pass[g] = not cur\n"
    "      else pass[g] = (not cur) or cur ~= v end\n"
    "    end\n"
    "  end\n"
    "  if status == 'ok' then\n"
    "    -- Validate by simulating the event's effects on a shadow of what they touch, so the\n"
    "    -- apply pass below cannot fail half-way (Redis scripts do not roll back).\n"
    "    local stype, sval, sdel = {}, {}, {}\n"
    "    local function ktype(k)\n"
    "      if stype[k] == nil then stype[k] = redis.call('TYPE', k)['ok'] end\n"
    "      return stype[k] end\n"
    "    local function fget(k, f)\n"
    "      local id = k .. '\\0' .. f\n"
    "      if sval[id] == nil then\n"
    "        if sdel[k] or ktype(k) == 'none' then sval[id] = false\n"
    "        elseif f == '' then sval[id] = redis.call('GET', k) or false\n"
    "        else sval[id] = redis.call('HGET', k, f) or false end\n"
    "      end\n"
    "      return sval[id] end\n"
    "    for i = 0, ne - 1 do\n"
    "      local b = es + 5 * i\n"
    "      local g = tonumber(ARGV[b])\n"
    "      if g == 0 or pass[g] then\n"
    "        local op = ARGV[b+1] local k = KEYS[tonumber(ARGV[b+2])]\n"
    "        local f = ARGV[b+3] local v = ARGV[b+4]\n"
    "        local want = need[op]\n"
    "        if want then\n"
    "          local t = ktype(k)\n"
    "          if t ~= 'none' and t ~= want then status = 'rejected: ' .. k .. ' is a ' .. t ..\n"
    "            ', not a ' .. want break end\n"
    "        end\n"
    "        local id = k .. '\\0' .. f\n"
    "        if op == '2' or op == '8' then\n"
    "          local c = fget(k, f)\n"
    "          if c and not isint(c) then status = 'rejected: ' .. k .. ' ' .. f ..\n"
    "            ' is not an integer' break end\n"
    "          local n = intadd(c or '0', v)\n"
    "          if not n then status = 'rejected: ' .. k .. ' ' .. f ..\n"
    "            ' would overflow' break end\n"
    "          sval[id] = n\n"
    "        elseif op == '3' or op == '5' or op == '6' then\n"
    "          local c = fget(k, f)\n"
    "          if c and not isnum(c) then status = 'rejected: ' .. k .. ' ' .. f ..\n"
    "            ' is not a number' break end\n"
    "          if op == '3' then\n"
    "            local n = (tonumber(c or '0') or 0) + tonumber(v)\n"
    "            if n ~= n or n == math.huge or n == -math.huge then status = 'rejected: ' ..\n"
    "              k .. ' ' .. f .. ' would overflow' break end\n"
    "            sval[id] = tostring(n)\n"
    "          else\n"
    "            local cn = tonumber(c or '') local n = tonumber(v)\n"
    "            if (not cn) or (op == '5' and n > cn) or (op == '6' and n < cn) then\n"
    "              sval[id] = v end\n"
    "          end\n"
    "        elseif op == '1' or op == '7' then sval[id] = v\n"
    "        elseif op == '4' then sval[id] = false\n"
    "        elseif op == '9' then sdel[k] = true stype[k] = 'none'\n"
    "          for kk in pairs(sval) do if string.sub(kk, 1, #k + 1) == k .. '\\0' then\n"
    "            sval[kk] = false end end\n"
    "        end\n"
    "        if want and op ~= '4' and op ~= '11' then stype[k] = want end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  if status == 'ok' then\n"
    "    for i = 0, ne - 1 do\n"
    "      local b = es + 5 * i\n"
    "      local g = tonumber(ARGV[b])\n"
    "      if g == 0 or pass[g] then\n"
    "        local op = ARGV[b+1] local k = KEYS[tonumber(ARGV[b+2])]\n"
    "        local f = ARGV[b+3] local v = ARGV[b+4]\n"
    "        if op == '1' then redis.call('HSET', k, f, v)\n"
    "        elseif op == '2' then redis.call('HINCRBY', k, f, v)\n"
    "        elseif op == '3' then redis.call('HINCRBYFLOAT', k, f, v)\n"
    "        elseif op == '4' then redis.call('HDEL', k, f)\n"
    "        elseif op == '5' or op == '6' then\n"
    "          local c = tonumber(redis.call('HGET', k, f) or '')\n"
    "          local n = tonumber(v)\n"
    "          if (not c) or (op == '5' and n > c) or (op == '6' and n < c) then\n"
    "            redis.call('HSET', k, f, v) end\n"
    "        elseif op == '7' then redis.call('SET', k, v)\n"
    "        elseif op == '8' then redis.call('INCRBY', k, v)\n"
    "        elseif op == '9' then redis.call('DEL', k)\n"
    "        elseif op == '10' then redis.call('SADD', k, v)\n"
    "        elseif op == '11' then redis.call('SREM', k, v)\n"
    "        elseif op == '12' then redis.call('PEXPIRE', k, v) end\n"
    "      end\n"
    "    end\n"
    "    if rec > 0 then\n"
    "      redis.call('HSET', KEYS[rec], 'state', 'done', 'updated', now, 'fp', fp)\n"
    "      redis.call('PEXPIRE', KEYS[rec], ttl)\n"
    "    end\n"
    "  end\n"
    "  out[e] = status\n"
    "end\n"
    "return out\n";

static evf_redis_script_t fx_script;
static pthread_once_t fx_script_once = PTHREAD_ONCE_INIT;

static void fx_script_init(void) {
    evf_redis_script_init(&fx_script, fx_script_src);
}

evf_fx_t *evf_fx_new(size_t max_ops) {
    evf_fx_t *fx = calloc(1, sizeof(*fx));
    if (!fx)
        abort();
    fx->max_ops = max_ops;
    return fx;
}

void evf_fx_destroy(evf_fx_t *fx) {
    if (!fx)
        return;
    free(fx->recs);
    free(fx->arena);
    free(fx);
}

void evf_fx_reset(evf_fx_t *fx) {
    fx->nrecs = 0;
    fx->nguards = 0;
    fx->alen = 0;
}

size_t evf_fx_count(const evf_fx_t *fx) {
    return fx->nrecs;
}

static size_t arena_put(evf_fx_t *fx, const char *s) {
    size_t n, off;
    if (!s)
        return 0;
    n = strlen(s) + 1;
    if (fx->alen + n > fx->acap) {
        size_t cap = fx->acap ? fx->acap : 1024;
        while (cap < fx->alen + n)
            cap *= 2;
        fx->arena = realloc(fx->arena, cap);
        if (!fx->arena)
            abort();
        fx->acap = cap;
    }
    off = fx->alen;
    memcpy(fx->arena + off, s, n);
    fx->alen += n;
    return off + 1;
}

static const char *arena_get(const evf_fx_t *fx, size_t ref) {
    return ref ? fx->arena + ref - 1 : "";
}

int evf_fx_touches(const evf_fx_t *fx, const char *key) {
    for (size_t i = 0; fx && i < fx->nrecs; i++) {
        const char *k = arena_get(fx, fx->recs[i].key);
        if (k && !strcmp(k, key))
            return 1;
    }
    return 0;
}

static fx_rec_t *rec_push(evf_fx_t *fx) {
    if (fx->nrecs == fx->caprecs) {
        fx->caprecs = fx->caprecs ? fx->caprecs * 2 : 16;
        fx->recs = realloc(fx->recs, fx->caprecs * sizeof(fx_rec_t));
        if (!fx->recs)
            abort();
    }
    return &fx->recs[fx->nrecs++];
}

int evf_fx_guard(evf_fx_t *fx, evf_guard_op_t op, const char *key, const char *field,
                 const char *value, const char **why) {
    if (fx->nrecs >= fx->max_ops) {
        *why = "effect queue full";
        return -1;
    }
    if (op < EVF_GUARD_LT_NUM || op > EVF_GUARD_NE || !key || !*key) {
        *why = "invalid guard";
        return -1;
    }
    if (op != EVF_GUARD_ABSENT && !value) {
        *why = "guard needs a value";
        return -1;
    }
    fx_rec_t *r = rec_push(fx);
    r->op = op;
    r->guard = -1;
    r->key = arena_put(fx, key);
    r->field = arena_put(fx, field);
    r->value = arena_put(fx, value ? value : "");
    return ++fx->nguards;
}

static int is_integer(const char *s) {
    char *end;
    if (!s || !*s)
        return 0;
    /* Redis's own rule: an optional '-', then digits, within int64 (no '+', no spaces). */
    const char *d = s[0] == '-' ? s + 1 : s;
    if (!(*d >= '0' && *d <= '9') || (d[0] == '0' && (d[1] || d != s)))
        return 0; /* no leading zeros, no "-0": Redis refuses them */
    errno = 0;
    (void)strtoll(s, &end, 10);
    return !errno && !*end;
}

static int is_number(const char *s) {
    char *end;
    double d;
    if (!s || !*s || isspace((unsigned char)*s))
        return 0;
    d = strtod(s, &end);
    return !*end && isfinite(d);
}

int evf_fx_add(evf_fx_t *fx, int guard_id, evf_fx_op_t op, const char *key, const char *field,
               const char *value, const char **why) {
    int needs_field = 0, needs_value = 1;
    if (fx->nrecs >= fx->max_ops) {
        *why = "effect queue full";
        return -1;
    }
    if (guard_id < 0 || guard_id > fx->nguards) {
        *why = "unknown guard id";
        return -1;
    }
    if (!key || !*key) {
        *why = "effect needs a key";
        return -1;
    }
    switch (op) {
    case EVF_FX_HSET:
        needs_field = 1;
        break;
    case EVF_FX_HINCRBY:
        needs_field = 1;
        if (!is_integer(value)) {
            *why = "HINCRBY needs an integer";
            return -1;
        }
        break;
    case EVF_FX_HINCRBYFLOAT:
    case EVF_FX_HMAX:
    case EVF_FX_HMIN:
        needs_field = 1;
        if (!is_number(value)) {
            *why = "needs a finite number";
            return -1;
        }
        break;
    case EVF_FX_HDEL:
        needs_field = 1;
        needs_value = 0;
        break;
    case EVF_FX_INCRBY:
        if (!is_integer(value)) {
            *why = "INCRBY needs an integer";
            return -1;
        }
        break;
    case EVF_FX_DEL:
        needs_value = 0;
        break;
    case EVF_FX_SET:
    case EVF_FX_SADD:
    case EVF_FX_SREM:
        break;
    case EVF_FX_PEXPIRE:
        if (!is_integer(value) || atoll(value) <= 0) {
            *why = "PEXPIRE needs a positive integer";
            return -1;
        }
        break;
    default:
        *why = "unknown effect op";
        return -1;
    }
    if (needs_field && (!field || !*field)) {
        *why = "effect needs a field";
        return -1;
    }
    if (needs_value && !value) {
        *why = "effect needs a value";
        return -1;
    }
    fx_rec_t *r = rec_push(fx);
    r->op = op;
    r->guard = guard_id;
    r->key = arena_put(fx, key);
    r->field = arena_put(fx, needs_field ? field : NULL);
    r->value = arena_put(fx, needs_value ? value : NULL);
    return 0;
}

/* Growable argv for one script call. Strings either point into the callers' memory (stable for
 * the call) or into `nums`, a scratch area for printed integers. */
typedef struct {
    const char **argv;
    size_t *lens;
    size_t n, cap;
    char *nums;
    size_t nlen, ncap;
    size_t *num_refs; /* argv slots whose string lives in nums (fixed up after nums stops moving) */
    size_t nnum, capnum;
} argv_t;

static void argv_push(argv_t *a, const char *s) {
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 256;
        a->argv = realloc(a->argv, a->cap * sizeof(*a->argv));
        a->lens = realloc(a->lens, a->cap * sizeof(*a->lens));
        if (!a->argv || !a->lens)
            abort();
    }
    a->argv[a->n] = s;
    a->lens[a->n] = strlen(s);
    a->n++;
}

static void argv_push_num(argv_t *a, int64_t v) {
    char buf[24];
    int len = snprintf(buf, sizeof(buf), "%" PRId64, v);
    if (a->nlen + (size_t)len + 1 > a->ncap) {
        a->ncap = a->ncap ? a->ncap * 2 : 4096;
        while (a->ncap < a->nlen + (size_t)len + 1)
            a->ncap *= 2;
        a->nums = realloc(a->nums, a->ncap);
        if (!a->nums)
            abort();
    }
    memcpy(a->nums + a->nlen, buf, (size_t)len + 1);
    if (a->nnum == a->capnum) {
        a->capnum = a->capnum ? a->capnum * 2 : 256;
        a->num_refs = realloc(a->num_refs, a->capnum * sizeof(size_t));
        if (!a->num_refs)
            abort();
    }
    a->num_refs[a->nnum++] = a->n;
    argv_push(a, "");
    a->argv[a->n - 1] = (const char *)(uintptr_t)a->nlen; /* offset, fixed up later */
    a->lens[a->n - 1] = (size_t)len;
    a->nlen += (size_t)len + 1;
}

static void argv_fixup(argv_t *a) {
    for (size_t i = 0; i < a->nnum; i++) {
        size_t slot = a->num_refs[i];
        a->argv[slot] = a->nums + (uintptr_t)a->argv[slot];
    }
}

static void argv_free(argv_t *a) {
    free(a->argv);
    free(a->lens);
    free(a->nums);
    free(a->num_refs);
}

static int64_t now_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

evf_err_t evf_fx_apply_batch(evf_redis_t *r, const evf_fx_commit_t *items, size_t n,
                             evf_fx_status_t *results, char (*reasons)[128]) {
    argv_t keys = {0}, args = {0};
    evf_err_t err = EVF_OK;
    redisReply *reply;

    pthread_once(&fx_script_once, fx_script_init);
    if (n == 0)
        return EVF_OK;

    argv_push_num(&args, now_ms());
    argv_push_num(&args, (int64_t)n);
    for (size_t i = 0; i < n; i++) {
        const evf_fx_commit_t *it = &items[i];
        const evf_fx_t *fx = it->fx;
        size_t ng = 0, ne = 0;
        if (it->record_key) {
            argv_push(&keys, it->record_key);
            argv_push_num(&args, (int64_t)keys.n);
        } else {
            argv_push_num(&args, 0);
        }
        argv_push(&args, it->token ? it->token : "");
        argv_push_num(&args, it->ttl_ms > 0 ? it->ttl_ms : 1);
        argv_push(&args, it->fp ? it->fp : "");
        for (size_t j = 0; fx && j < fx->nrecs; j++) {
            if (fx->recs[j].guard < 0)
                ng++;
            else
                ne++;
        }
        argv_push_num(&args, (int64_t)ng);
        argv_push_num(&args, (int64_t)ne);
        for (size_t j = 0; fx && j < fx->nrecs; j++) { /* guards, in id order */
            const fx_rec_t *rec = &fx->recs[j];
            if (rec->guard >= 0)
                continue;
            argv_push_num(&args, rec->op);
            argv_push(&keys, arena_get(fx, rec->key));
            argv_push_num(&args, (int64_t)keys.n);
            argv_push(&args, arena_get(fx, rec->field));
            argv_push(&args, arena_get(fx, rec->value));
        }
        for (size_t j = 0; fx && j < fx->nrecs; j++) {
            const fx_rec_t *rec = &fx->recs[j];
            if (rec->guard < 0)
                continue;
            argv_push_num(&args, rec->guard);
            argv_push_num(&args, rec->op);
            argv_push(&keys, arena_get(fx, rec->key));
            argv_push_num(&args, (int64_t)keys.n);
            argv_push(&args, arena_get(fx, rec->field));
            argv_push(&args, arena_get(fx, rec->value));
        }
    }
    argv_fixup(&args);

    /* One argv: keys then args. */
    size_t total = keys.n + args.n;
    const char **argv = malloc(total * sizeof(*argv));
    size_t *lens = malloc(total * sizeof(*lens));
    if (!argv || !lens)
        abort();
    memcpy(argv, keys.argv, keys.n * sizeof(*argv));
    memcpy(lens, keys.lens, keys.n * sizeof(*lens));
    memcpy(argv + keys.n, args.argv, args.n * sizeof(*argv));
    memcpy(lens + keys.n, args.lens, args.n * sizeof(*lens));

    reply = evf_redis_eval(r, &fx_script, (int)keys.n, (int)total, argv, lens);
    if (!reply) {
        err = EVF_ERR_TRANSPORT;
    } else if (reply->type != REDIS_REPLY_ARRAY || reply->elements != n) {
        EVF_ERR("effects", "completion script failed: %s",
                reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
        err = EVF_ERR_TRANSPORT;
    } else {
        for (size_t i = 0; i < n; i++) {
            const redisReply *e = reply->element[i];
            const char *s = (e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS)
                                ? e->str
                                : "";
            if (!strcmp(s, "ok")) {
                results[i] = EVF_FX_APPLIED;
            } else if (!strcmp(s, "already")) {
                results[i] = EVF_FX_ALREADY;
            } else if (!strcmp(s, "fenced")) {
                results[i] = EVF_FX_FENCED;
            } else {
                results[i] = EVF_FX_REJECTED;
                if (reasons)
                    snprintf(reasons[i], sizeof(reasons[i]), "%s", s);
            }
        }
    }
    if (reply)
        freeReplyObject(reply);
    free(argv);
    free(lens);
    argv_free(&keys);
    argv_free(&args);
    return err;
}
