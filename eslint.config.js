import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'cdk.out/', 'dist/', 'bench/results.json', '.local/', 'test-results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': ['error', { allow: ['warn', 'error'] }],
    },
  },
  {
    files: ['local/public/**/*.js'],
    languageOptions: {
      globals: { document: 'readonly', fetch: 'readonly', location: 'readonly', URLSearchParams: 'readonly', JSON: 'readonly' },
    },
  },
  {
    files: ['local/**', 'bench/**', 'tools/**', 'examples/**', 'scripts/**', 'infra/app.ts', 'test/**'],
    rules: { 'no-console': 'off' },
  },
);
