{#- A model's data tests in one query, run as soon as the model is built.

    dbt runs each data test as a query of its own. On Athena each query is
    billed 10 MB at least and takes a second or more, so a scheduled run spent
    two thirds of its statements (24 of 39 after new events) on tests that each
    read a few kilobytes; locally each is a DuckLake query with its own catalog
    work. Here the project's materializations call run_test_batch() last, once
    the model and its hooks have written: it renders each of the model's tests
    that this command runs (in its own test macro, with its own arguments,
    `where`, fail_calc, warn_if, error_if and limit, over the rows the test
    scope gives it: the same SQL dbt would run), unions them, sends one query
    and keeps a row of results per test. Each test node then takes its row
    (the test materialization below) instead of a query: it passes, warns or
    fails as before, and dbt's build skips what is downstream of a failure as
    before.

    A test is in its model's batch when the model is the node it is attached
    to and every other node it reads is built before the model or not in the
    run (a seed, a relationships test's parent upstream); tests that store
    their failures, have a SQL header, are singular or are unit tests run as
    before. One difference: a test whose query cannot run at all (an error, not
    failing rows) fails the batch, and so the model that ran it, whose data is
    written; dbt reports the model failed with the database's message and skips
    what is downstream, as it would have after the test's error. -#}

{% macro run_test_batch() -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set tests = batched_tests(model.unique_id) -%}
    {%- if not tests -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set queries = [] -%}
    {%- for test in tests -%}
        {%- set main_sql = generic_test_sql(
            test, scoped_relation(this, test.config.where), from_graph=true) -%}
        {%- do queries.append(
            "select '" ~ test.unique_id ~ "' as test_id, cast(failures as bigint) as failures,"
            ~ " should_warn, should_error from ("
            ~ get_test_sql(main_sql, test.config.fail_calc, test.config.warn_if,
                test.config.error_if, test.config.limit)
            ~ ") as test_" ~ loop.index) -%}
    {%- endfor -%}
    {%- call statement('test_batch', fetch_result=True, auto_begin=False) -%}
        {{ queries | join('\nunion all\n') }}
    {%- endcall -%}
    {%- set found = load_result('test_batch') -%}
    {%- set results = run_cache('test_results') -%}
    {%- for row in found['table'].rows -%}
        {%- do results.update({row['test_id']: {
            'response': found['response'],
            'table': found['table'].limit(loop.index0, loop.index0 + 1)
                .select(['failures', 'should_warn', 'should_error'])}}) -%}
    {%- endfor -%}
{%- endmacro %}

{#- The tests of this command to run in the batch of the model `unique_id`. -#}
{% macro batched_tests(unique_id) -%}
    {%- if flags.STORE_FAILURES -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set built_before = [] -%}
    {%- do _ancestors(unique_id, built_before) -%}
    {%- set tests = [] -%}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'test'
        and node.unique_id in selected_resources
        and node.test_metadata
        and node.attached_node == unique_id
        and not node.config.store_failures
        and not node.config.sql_header -%}
        {%- set others = node.depends_on.nodes | reject('equalto', unique_id)
            | select('in', selected_resources) | reject('in', built_before) | list -%}
        {%- if not others -%}
            {%- do tests.append(node) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(tests | sort(attribute='unique_id')) }}
{%- endmacro %}

{#- Appends to `found` every node upstream of `unique_id`. -#}
{% macro _ancestors(unique_id, found) -%}
    {%- for parent in graph.nodes.get(unique_id, {}).get('depends_on', {}).get('nodes', []) -%}
        {%- if parent not in found -%}
            {%- do found.append(parent) -%}
            {%- do _ancestors(parent, found) -%}
        {%- endif -%}
    {%- endfor -%}
{%- endmacro %}

{#- A data test: its row of its model's batch when it has one, else dbt's own
    materialization (a query of its own). -#}
{% materialization test, default -%}
    {%- set batched = run_cache('test_results').get(model.unique_id) -%}
    {%- if batched is none -%}
        {{ return(dbt.materialization_test_default()) }}
    {%- endif -%}
    {#- target/run keeps what the test checked, as for a test run on its own. -#}
    {%- do write('-- run in the batch of ' ~ model.attached_node ~ ' (run_test_batch)\n'
        ~ get_test_sql(sql, config.get('fail_calc'), config.get('warn_if'),
            config.get('error_if'), config.get('limit'))) -%}
    {%- do store_result('main', response=batched['response'], agate_table=batched['table']) -%}
    {{ return({'relations': []}) }}
{%- endmaterialization %}
