{#- The plausibility tests (models/_test_policy.md), evaluated inside a model:
    each test node of the graph tagged `plausibility` is rendered with its own
    generic test macro and arguments, over the whole current table, so the
    rules are written once (in the models' YAML) and counted by data_quality. -#}

{#- A list of checks, one per plausibility test: test_name, model_name,
    column_name, bronze_sources (the Bronze sources upstream of the tested
    model, or 'none'), sql (the test's query, returning its failing rows) and
    fail_calc (how dbt counts them, count(*) unless the test says otherwise). Call it
    under `execute`: the graph is empty while dbt parses. -#}
{% macro plausibility_checks() -%}
    {%- set checks = [] -%}
    {%- set tests = graph.nodes.values()
        | selectattr('resource_type', 'equalto', 'test')
        | sort(attribute='name') -%}
    {%- for test in tests if 'plausibility' in test.tags -%}
        {%- if not test.test_metadata -%}
            {{ exceptions.raise_compiler_error(
                "plausibility test " ~ test.name ~ " is a singular test: data_quality can "
                ~ "count generic tests only (make it a generic test or an integrity test)") }}
        {%- endif -%}
        {%- set tested = _tested_node(test) -%}
        {%- set sources = [] -%}
        {%- do _bronze_sources_upstream(tested.unique_id, sources) -%}
        {%- do checks.append({
            'test_name': test.name,
            'model_name': tested.name,
            'column_name': test.column_name,
            'bronze_sources': (sources | sort) or ['none'],
            'fail_calc': test.config.fail_calc,
            'sql': _plausibility_test_sql(test, tested),
        }) -%}
    {%- endfor -%}
    {{ return(checks) }}
{%- endmacro %}

{#- The model, seed or source a generic test is attached to, read from its
    `model` argument (e.g. "{{ get_where_subquery(ref('orders')) }}"). -#}
{% macro _tested_node(test) -%}
    {%- set found = modules.re.search(_reference_pattern(), test.test_metadata.kwargs.model) -%}
    {%- if not found -%}
        {{ exceptions.raise_compiler_error(
            "plausibility test " ~ test.name ~ ": cannot tell which model it tests from "
            ~ test.test_metadata.kwargs.model) }}
    {%- endif -%}
    {{ return(_referenced_node(found)) }}
{%- endmacro %}

{#- The graph's node (model, seed or source) of a match of _reference_pattern. -#}
{% macro _referenced_node(found) -%}
    {%- if found.group(1) == 'ref' -%}
        {%- set nodes = graph.nodes.values() | selectattr('name', 'equalto', found.group(3))
            | rejectattr('resource_type', 'equalto', 'test') | list -%}
    {%- else -%}
        {%- set nodes = graph.sources.values()
            | selectattr('source_name', 'equalto', found.group(2))
            | selectattr('name', 'equalto', found.group(3)) | list -%}
    {%- endif -%}
    {{ return(nodes[0]) }}
{%- endmacro %}

{#- ref('name') or source('source', 'name'), quoted either way: groups 1 (ref or
    source), 2 (the source's name) and 3 (the model's or table's name). -#}
{% macro _reference_pattern() -%}
    {{ return("\\b(ref|source)\\(\\s*(?:['\"](\\w+)['\"]\\s*,\\s*)?['\"](\\w+)['\"]\\s*\\)") }}
{%- endmacro %}

{#- The relation an argument like "ref('customers')" names, for the arguments of
    relationships-like tests; any other value as it is. `from_graph`: the
    relation's name as the graph has it, for a caller whose own node does not
    depend on it (dbt refuses a ref() its node did not declare). -#}
{% macro _test_argument(value, from_graph=false) -%}
    {%- if value is string and ('ref(' in value or 'source(' in value) -%}
        {%- set found = modules.re.fullmatch("\\s*" ~ _reference_pattern() ~ "\\s*", value) -%}
        {%- if not found -%}
            {{ exceptions.raise_compiler_error("cannot evaluate the test argument " ~ value) }}
        {%- endif -%}
        {%- if from_graph -%}
            {{ return(_referenced_node(found).relation_name) }}
        {%- endif -%}
        {%- if found.group(1) == 'ref' -%}
            {{ return(ref(found.group(3))) }}
        {%- endif -%}
        {{ return(source(found.group(2), found.group(3))) }}
    {%- endif -%}
    {{ return(value) }}
{%- endmacro %}

{#- The test's own query over the whole table (not get_where_subquery, which a
    scheduled run narrows to the rows it changed; the test's `where`, if any,
    still applies). -#}
{% macro _plausibility_test_sql(test, tested) -%}
    {%- if tested.resource_type == 'source' -%}
        {%- set relation = source(tested.source_name, tested.name) -%}
    {%- else -%}
        {%- set relation = ref(tested.name) -%}
    {%- endif -%}
    {%- if test.config.where -%}
        {%- set relation = '(select * from ' ~ relation ~ ' where ' ~ test.config.where
            ~ ') as dbt_subquery' -%}
    {%- endif -%}
    {{ return(generic_test_sql(test, relation)) }}
{%- endmacro %}

{#- A generic test's query (its failing rows), rendered with its own test macro
    and arguments over `relation` (what the test's `model` argument is);
    `from_graph` as for _test_argument. -#}
{% macro generic_test_sql(test, relation, from_graph=false) -%}
    {%- set arguments = {'model': relation} -%}
    {%- for name, value in test.test_metadata.kwargs.items() if name != 'model' -%}
        {%- do arguments.update({name: _test_argument(value, from_graph)}) -%}
    {%- endfor -%}
    {%- set macro_name = 'test_' ~ test.test_metadata.name -%}
    {%- set namespace = context[test.test_metadata.namespace]
        if test.test_metadata.namespace else context -%}
    {%- if macro_name not in namespace -%}
        {{ exceptions.raise_compiler_error("test " ~ test.name ~ ": no macro " ~ macro_name) }}
    {%- endif -%}
    {{ return(namespace[macro_name](**arguments)) }}
{%- endmacro %}

{#- Appends to `found` the Bronze sources (quarantine aside) upstream of a node. -#}
{% macro _bronze_sources_upstream(unique_id, found) -%}
    {%- if unique_id in graph.sources -%}
        {%- set upstream = graph.sources[unique_id] -%}
        {%- if upstream.source_name == 'bronze' and upstream.name != 'quarantine'
            and upstream.name not in found -%}
            {%- do found.append(upstream.name) -%}
        {%- endif -%}
    {%- elif unique_id in graph.nodes -%}
        {%- for parent in graph.nodes[unique_id].depends_on.nodes -%}
            {%- do _bronze_sources_upstream(parent, found) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{#- data_quality's rows of tests no longer in the project: marked by a null
    failing_rows, deleted by the merge (Athena: delete_condition) or right after
    it (DuckDB: this post-hook), as daily_sales_by_region's emptied groups are. -#}
{% macro delete_retired_checks() -%}
    {{ return(adapter.dispatch('delete_retired_checks', 'streamlake')()) }}
{%- endmacro %}

{% macro default__delete_retired_checks() -%}
    {#- nothing: an empty hook sends no statement -#}
{%- endmacro %}

{% macro duckdb__delete_retired_checks() -%}
    delete from {{ this }} where failing_rows is null
{%- endmacro %}

{#- (bronze_source, gold model, whether it has _processed_at) for each Gold model
    and each Bronze source upstream of it in the graph, for pipeline_health.
    Every model is ref()'d while dbt parses, so that pipeline_health runs after
    each of them; which sources feed which model is known when it runs. -#}
{% macro gold_models_by_source(models) -%}
    {%- set found = [] -%}
    {%- set nodes = {} -%}
    {%- if execute -%}
        {%- for node in graph.nodes.values() if node.resource_type == 'model' -%}
            {%- do nodes.update({node.name: node}) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- for model in models -%}
        {%- do ref(model) -%}
        {%- if execute and model in nodes -%}
            {%- set sources = [] -%}
            {%- do _bronze_sources_upstream(nodes[model].unique_id, sources) -%}
            {%- for bronze_source in sources | sort -%}
                {%- do found.append(
                    (bronze_source, model, '_processed_at' in nodes[model].columns)) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(found) }}
{%- endmacro %}
