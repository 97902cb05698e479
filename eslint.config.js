import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'cdk.out/', 'dist/', 'bench/results.json', '.local/', 'test-results/'] },
  js.configs.recommended,
  // Type-aware: typescript-eslint's strictest preset, with the compiler's own project for types.
  ...tseslint.configs.strictTypeChecked,
  { languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } } },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': ['error', { allow: ['warn', 'error'] }],
      // Numbers and booleans read fine in messages; objects, undefined and null still may not be interpolated.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // `noUncheckedIndexedAccess` is on, so `x[i]!` after a length or key check is the idiom; the compiler
      // already refuses the unchecked access this rule exists to flag.
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
    },
  },
  {
    // Tests and benchmarks read JSON bodies and templates as `any`, and fakes implement async ports
    // without awaiting: the unsafe-any rules and require-await would only add casts there.
    files: ['test/**', 'bench/**'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unnecessary-condition': 'off',
    },
  },
  {
    files: ['local/public/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: {
        document: 'readonly',
        fetch: 'readonly',
        location: 'readonly',
        JSON: 'readonly',
        URLSearchParams: 'readonly',
      },
    },
  },
  { files: ['eslint.config.js'], ...tseslint.configs.disableTypeChecked },
  {
    files: ['local/**', 'bench/**', 'tools/**', 'examples/**', 'scripts/**', 'infra/app.ts', 'test/**'],
    rules: { 'no-console': 'off' },
  },
);
