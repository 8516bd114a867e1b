/**
 * The pieces a Lambda's wiring is made of. Each module of this folder is one
 * part (one AWS client family) and imports only its own adapters and SDK
 * clients, so a function's bundle holds only the parts its handler names.
 */

/** One factory per property: called on the first read, then kept. */
export type Factories<T> = { readonly [K in keyof T]: () => T[K] };

/**
 * One part of a function's dependencies: builds the factories of what it
 * provides (called once per container, on the first invocation; nothing is
 * read from the environment until a property is first used).
 */
export type Part<T extends object> = () => Factories<T>;

type Intersection<U> = (U extends unknown ? (u: U) => void : never) extends (
  i: infer I
) => void
  ? I
  : never;

/** What a list of parts provides together. */
export type Wired<Ps extends readonly Part<object>[]> = [Ps[number]] extends [
  never,
]
  ? object
  : Intersection<
      { [I in keyof Ps]: Ps[I] extends Part<infer T> ? T : never }[number]
    >;

/**
 * An object whose properties are built on first read, then kept.
 * @param factories one factory per property
 */
export const lazily = <T extends object>(factories: Factories<T>): T => {
  const cache = new Map<PropertyKey, unknown>();
  const target = {} as T;
  for (const key of Object.keys(factories) as (keyof T)[]) {
    Object.defineProperty(target, key, {
      enumerable: true,
      get: () => {
        if (!cache.has(key)) cache.set(key, factories[key]());
        return cache.get(key);
      },
    });
  }
  return target;
};

/**
 * Puts parts together into one object whose properties are built on first
 * read.
 * @param parts the parts; a later part's property replaces an earlier one's
 */
export const wire = <Ps extends readonly Part<object>[]>(
  ...parts: Ps
): Wired<Ps> =>
  lazily(Object.assign({}, ...parts.map((part) => part()))) as Wired<Ps>;

/**
 * A value built on the first call, then kept (a client shared by parts).
 * @param build builds the value
 */
export const once = <T>(build: () => T): (() => T) => {
  let built: { value: T } | undefined;
  return () => {
    built ??= { value: build() };
    return built.value;
  };
};
