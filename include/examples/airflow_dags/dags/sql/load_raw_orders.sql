-- Copy one day of orders from the import area into raw.
delete from raw.orders where order_date = '{{ ds }}';

insert into raw.orders (id, user_id, order_date, status)
select id, user_id, order_date, status
from staging.orders_import
where order_date = '{{ ds }}';
